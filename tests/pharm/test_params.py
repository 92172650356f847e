"""pharmacology.yaml: every citation resolves in sources.yaml."""

from __future__ import annotations

import copy

import pytest

from raad.knowledge.sources import KnowledgeError
from raad.pharm.params import _citations, _read, pharm_sources, pharmacology, validate


def test_every_citation_resolves_and_pharm_sources_are_locatable():
    reg = pharm_sources()
    cites = _citations(pharmacology())
    assert len(cites) > 20
    for c in cites:
        assert reg.resolve(c.source).link or reg.resolve(c.source).kind == "primary"


def test_unknown_source_fails_loudly():
    raw = copy.deepcopy(_read("pharmacology.yaml"))
    raw["esketamine_nasal"]["cite"][0]["source"] = "no-such-source"
    with pytest.raises(KnowledgeError, match="no-such-source"):
        validate(raw)


def test_a_missing_parameter_names_the_field():
    raw = copy.deepcopy(_read("pharmacology.yaml"))
    del raw["n2o_uptake"]["alveolar_ventilation_l_min"]
    with pytest.raises(KnowledgeError, match="alveolar_ventilation_l_min"):
        validate(raw)


def test_the_enzyme_model_is_labelled_an_assumption():
    ms = pharmacology().methionine_synthase
    assert ms.status == "assumption" and "not from a source" in ms.note
