"""Screening facts from a FHIR R4 Bundle."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from raad.clinical.errors import ClinicalInputError
from raad.clinical.screening import screen
from raad.interop.fhir_facts import MAX_ENTRIES, facts_from_bundle

BUNDLE = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "patient-bundle.json").read_text()
)
AS_OF = date(2026, 11, 22)


def test_bundle_becomes_facts():
    read = facts_from_bundle(BUNDLE, as_of=AS_OF)
    f = read.facts
    assert (f.sex, f.age_years, f.pregnant, f.b12_status) == ("female", 46, False, "low")
    assert (f.systolic_mmhg, f.diastolic_mmhg) == (142, 88)
    assert [c.active for c in f.conditions] == [True, False]  # the pneumothorax is resolved
    assert f.conditions[0].system == "ICD-10-CM" and f.conditions[0].code == "F33.2"
    result = screen(f)
    assert result.agents["n2o"].status == "contraindicated"  # low B12 by the lab's flag
    assert result.agents["ketamine"].status == "caution"  # naltrexone on the medication list
    assert not any("Pneumothorax" in r.text for r in result.agents["n2o"].reasons)


def test_unreadable_observations_are_reported():
    b = copy.deepcopy(BUNDLE)
    b["entry"][5]["resource"].pop("interpretation")
    b["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "Serum sodium"},
            }
        }
    )
    b["entry"].append(
        {"resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}}
    )
    read = facts_from_bundle(b, as_of=AS_OF)
    assert read.facts.b12_status is None
    assert any("without a laboratory interpretation" in u for u in read.unused)
    assert any("Serum sodium" in u for u in read.unused)
    assert any("Encounter" in u for u in read.unused)
    assert screen(read.facts).agents["n2o"].missing  # B12 now missing, never assumed normal


def test_malformed_bundle_names_the_path():
    b = copy.deepcopy(BUNDLE)
    b["entry"][4]["resource"]["component"][0]["valueQuantity"]["value"] = "high"
    with pytest.raises(ClinicalInputError) as exc:
        facts_from_bundle(b, as_of=AS_OF)
    assert exc.value.field.startswith("bundle.entry")
    with pytest.raises(ClinicalInputError, match="resourceType"):
        facts_from_bundle({"resourceType": "Patient"}, as_of=AS_OF)


def test_impossible_values_in_a_bundle_are_refused():
    b = copy.deepcopy(BUNDLE)
    b["entry"][4]["resource"]["component"][0]["valueQuantity"]["value"] = 400
    b["entry"][4]["resource"]["component"][1]["valueQuantity"]["value"] = 20
    with pytest.raises(ClinicalInputError, match=r"blood_pressure\.systolic"):
        facts_from_bundle(b, as_of=AS_OF)


def test_oversize_bundle_refused():
    b = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [BUNDLE["entry"][0]] * (MAX_ENTRIES + 1),
    }
    with pytest.raises(ClinicalInputError, match="at most"):
        facts_from_bundle(b, as_of=AS_OF)
