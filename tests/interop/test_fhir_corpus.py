"""Real FHIR content through the reader: the HL7 FHIR R4 official examples (hl7.fhir.r4.examples
4.0.1, CC0), US Core examples (CC0) and Synthea R4 patients (Apache-2.0).

The files are public but not shipped with raad; point ``RAAD_FHIR_CORPUS`` at a folder holding
``hl7-r4-examples/``, ``us-core/`` and ``synthea/`` (JSON files, as their repositories publish
them) to run these tests; without it they are skipped. What they check: no file makes the reader
or the screening raise anything but a ``FhirReadError`` that names the element, every problem
reported names its path, and Synthea patients' blood pressure panels, conditions and medicines
are read.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from raad.clinical.screening import screen
from raad.interop.fhir_read import FhirReadError, read_bundle

CORPUS = Path(os.environ.get("RAAD_FHIR_CORPUS", "/nonexistent"))
AS_OF = date(2026, 11, 30)
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="RAAD_FHIR_CORPUS (a folder of public FHIR examples) not set"
)
CLINICAL = {
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "MedicationDispense",
    "MedicationAdministration",
    "AllergyIntolerance",
}


def _as_bundle(resource: dict) -> dict:
    """A single example resource in a Bundle with the Patient it names (examples stand alone)."""
    if resource.get("resourceType") == "Bundle":
        return resource
    subject = resource.get("subject") or resource.get("patient")
    ref = subject.get("reference", "Patient/x") if isinstance(subject, dict) else "Patient/x"
    pid = str(ref).split("/")[-1]
    patient = {"resourceType": "Patient", "id": pid}
    if resource.get("resourceType") == "Patient":
        return {"resourceType": "Bundle", "entry": [{"resource": resource}]}
    return {"resourceType": "Bundle", "entry": [{"resource": patient}, {"resource": resource}]}


def _files(sub: str) -> list[Path]:
    return sorted((CORPUS / sub).glob("*.json")) if (CORPUS / sub).is_dir() else []


@pytest.mark.parametrize("sub", ["hl7-r4-examples", "us-core"])
def test_every_official_example_is_read_or_refused_with_its_element(sub):
    files = _files(sub)
    if not files:
        pytest.skip(f"{sub} not in the corpus")
    counts = {"read": 0, "refused": 0, "clinical": 0}
    for f in files:
        data = json.loads(f.read_text(encoding="utf-8-sig"))
        if not isinstance(data, dict):
            continue
        try:
            read = read_bundle(_as_bundle(data), as_of=AS_OF)
        except FhirReadError as exc:
            assert exc.field.startswith("bundle."), (f.name, exc)
            counts["refused"] += 1
            continue
        screen(read.facts, as_of=AS_OF)
        for p in read.problems:
            assert p.split(":")[0].startswith(("entry[", "resource[")), (f.name, p)
        counts["read"] += 1
        counts["clinical"] += data.get("resourceType") in CLINICAL
    assert counts["read"] > 0 and counts["clinical"] > 0, counts


def test_synthea_patients_are_read():
    files = [f for f in _files("synthea") if "Information" not in f.name]
    if not files:
        pytest.skip("synthea not in the corpus")
    with_bp = with_conditions = with_medicines = 0
    for f in files:
        read = read_bundle(json.loads(f.read_bytes()), as_of=AS_OF)
        result = screen(read.facts, as_of=AS_OF)
        assert not read.problems, (f.name, read.problems[:3])
        assert all(
            a.status in ("contraindicated", "caution", "eligible") for a in result.agents.values()
        )
        with_bp += any("blood pressure" in u and "older than" in u for u in read.unused) or (
            read.facts.systolic_mmhg is not None
        )
        with_conditions += bool(read.facts.conditions)
        with_medicines += bool(read.facts.medications)
    assert with_bp == len(files)  # every Synthea patient has 55284-4 panels
    assert with_conditions > 0.9 * len(files) and with_medicines > 0.5 * len(files)


def test_every_questionnaire_response_is_scored_or_refused_by_name():
    """US Core and HL7 QuestionnaireResponses: raad's instruments scored, others refused."""
    from raad.interop.fhir_scales import read_response
    from raad.scales import ScaleInputError

    files = [
        f
        for sub in ("us-core", "hl7-r4-examples")
        for f in _files(sub)
        if f.name.lower().startswith("questionnaireresponse")
    ]
    if not files:
        pytest.skip("no QuestionnaireResponse examples in the corpus")
    scored = {}
    for f in files:
        try:
            scored[f.name] = read_response(json.loads(f.read_text(encoding="utf-8-sig")))
        except ScaleInputError as exc:
            assert exc.field and exc.allowed, f.name
        except ValueError as exc:  # pydantic: a resource the R4B model refuses, named
            assert "QuestionnaireResponse" in str(exc), f.name
    phq9 = scored.get("QuestionnaireResponse-phq-9-example.json")
    if phq9 is not None:
        assert phq9.score.total == 12 and phq9.disagreements == ()
