"""Editing a patient's facts from a form keeps what the form does not show."""

from __future__ import annotations

from datetime import date

from raad.services import patients
from tests.services.helpers import register_patient

CODED = {
    "text": "Opioid dependence, in remission",
    "system": "http://hl7.org/fhir/sid/icd-10-cm",
    "code": "F11.21",
    "status": "history",
    "source": "Condition/c9, history",
    "resource": "urn:x:mrn|Condition/c9",
}


def test_a_form_save_keeps_coded_entries_dates_and_sources(database, world):
    p = register_patient(
        database,
        world,
        {
            "conditions": [CODED],
            "systolic_mmhg": 120,
            "diastolic_mmhg": 75,
            "fact_dates": {"systolic_mmhg": "2026-11-01", "diastolic_mmhg": "2026-11-01"},
        },
    )
    with database.transaction() as s:
        out = patients.edit_facts(
            s,
            world.clinician,
            p["id"],
            {"systolic_mmhg": 120, "diastolic_mmhg": 75, "b12_status": "normal"},
            {
                "conditions": ["Opioid dependence, in remission", "pneumothorax"],
                "medications": [],
                "allergies": [],
            },
            p["version"],
        )
    facts = out["facts"]
    assert facts["conditions"][0] == CODED  # the kept line keeps its code, status and source
    assert facts["conditions"][1] == {"text": "pneumothorax"}
    assert facts["fact_dates"]["systolic_mmhg"] == "2026-11-01"  # unchanged: its date stays
    assert facts["fact_dates"]["b12_status"] == date.today().isoformat()
    assert facts["allergies"] == []  # none known, recorded


def test_leaving_allergies_empty_and_unticked_keeps_them_unknown(database, world):
    p = register_patient(database, world, {"allergies": ["penicillin"]})
    with database.transaction() as s:
        out = patients.edit_facts(
            s,
            world.clinician,
            p["id"],
            {},
            {"conditions": [], "medications": [], "allergies": None},
            p["version"],
        )
    assert "allergies" not in out["facts"]
