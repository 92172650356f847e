"""The web facts form sends back what it shows: saving it unchanged changes nothing (issue 17:
coded entries turned into text, inactive conditions into active ones)."""

from __future__ import annotations

from raad.services import patients
from raad.store.models import Patient
from tests.services.helpers import register_patient

FACTS = {
    "conditions": [
        {
            "text": "Bipolar I disorder",
            "system": "http://snomed.info/sct",
            "code": "371596008",
            "status": "history",
            "active": False,
        },
        {
            "text": "Hypertension",
            "system": "http://snomed.info/sct",
            "code": "38341003",
            "status": "active",
        },
        {"text": "Hypertension", "status": "active"},  # the same line twice, from two sources
        {
            "text": "Raised\nintracranial pressure",
            "system": "http://snomed.info/sct",
            "code": "271719001",
            "status": "active",
        },
        {"system": "http://snomed.info/sct", "code": "49436004", "status": "active"},
    ],
    "medications": [
        {
            "text": "naltrexone 50 mg",
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "code": "7243",
            "status": "recent",
        },
    ],
}


def _shown(entries):
    """The textarea's lines, as the page renders them (``entry_line``)."""
    return [patients.entry_line(e) for e in entries]


def test_saving_the_form_unchanged_keeps_every_entry(database, world):
    p = register_patient(database, world, FACTS)
    with database.transaction() as s:
        before = s.get(Patient, p["id"]).facts
        patients.edit_facts(
            s,
            world.clinician,
            p["id"],
            {},
            {k: _shown(before[k]) for k in ("conditions", "medications")} | {"allergies": None},
            1,
        )
    with database.transaction(write=False) as s:
        after = s.get(Patient, p["id"]).facts
    assert after["conditions"] == before["conditions"]
    assert after["medications"] == before["medications"]
    assert (
        after["conditions"][0]["active"] is False and after["conditions"][0]["code"] == "371596008"
    )


def test_a_removed_line_removes_its_entries_and_a_new_line_is_text(database, world):
    p = register_patient(database, world, FACTS)
    with database.transaction() as s:
        before = s.get(Patient, p["id"]).facts
        lines = [x for x in _shown(before["conditions"]) if x != "Hypertension"] + ["Glaucoma"]
        patients.edit_facts(s, world.clinician, p["id"], {}, {"conditions": lines}, 1)
    with database.transaction(write=False) as s:
        after = s.get(Patient, p["id"]).facts["conditions"]
    assert [e.get("text") for e in after] == [
        "Bipolar I disorder",
        "Raised\nintracranial pressure",
        None,
        "Glaucoma",
    ]


def test_the_reason_given_in_the_form_is_audited(database, world):
    from sqlalchemy import select

    from raad.store.models import AuditEvent

    p = register_patient(database, world, FACTS)
    with database.transaction() as s:
        patients.edit_facts(
            s, world.clinician, p["id"], {}, {"conditions": ["Glaucoma"]}, 1, "new diagnosis letter"
        )
    with database.transaction(write=False) as s:
        last = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.patient_id == p["id"])
            .order_by(AuditEvent.id.desc())
        ).first()
    assert last.action == "update" and last.reason == "new diagnosis letter"
