"""Exported administrations carry each agent's own codes (knowledge/agents.yaml): N2O ATC
N01AX13 (WHO ATC index 2026) and RxNorm 7486 (NLM RxNorm November 2025, ingredient), ketamine
ATC N01AX03 and RxNorm 6130."""

from __future__ import annotations

from raad.interop.fhir_export import _agent_concept

ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def test_nitrous_oxide_is_coded_with_its_atc_and_rxnorm_codes():
    concept = _agent_concept("n2o")
    assert {"system": ATC, "code": "N01AX13"} in concept["coding"]
    assert {"system": RXNORM, "code": "7486"} in concept["coding"]
    assert concept["text"].startswith("Nitrous oxide")


def test_ketamine_keeps_atc_and_rxnorm():
    codes = {(c["system"], c["code"]) for c in _agent_concept("ketamine")["coding"]}
    assert (ATC, "N01AX03") in codes and any(code == "6130" for _, code in codes)
