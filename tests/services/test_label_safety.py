"""The label in the treatment room, through the services on SQLite and PostgreSQL: labelled
esketamine doses, doses above the plan, the 40-minute blood pressure, the earliest discharge,
notes on acknowledgements, overrides of a contraindication and stale screenings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from raad.services import Conflict, InvalidInput, alerts, audit, courses, patients, sessions
from raad.services import screenings as screening_service
from raad.services.schemas import (
    BloodPressureIn,
    CourseIn,
    PatientUpdate,
    SessionIn,
    SessionUpdate,
    SignatureIn,
)
from raad.store.models import Administration, Course
from tests.dbfixtures import PASSWORD
from tests.services.helpers import register_patient

KNOWN = {  # every fact screening asks for, so statuses come from the conditions alone
    "b12_status": "normal",
    "pregnant": False,
    "breastfeeding": False,
    "opioid_use": False,
    "systolic_mmhg": 124,
    "diastolic_mmhg": 80,
    "allergies": [],
}


def now() -> datetime:
    return datetime.now(UTC)


def new_patient(database, world, **facts: Any) -> int:
    return register_patient(database, world, facts)["id"]


def plan(database, world, pid: int, regimen: str, **extra: Any) -> dict[str, Any]:
    with database.transaction() as s:
        return courses.plan(
            s, world.clinician, pid, CourseIn(regimen=regimen, start=date(2026, 11, 2), **extra)
        )


def record(database, world, course_id: int, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "course_id": course_id,
        "start": now() - timedelta(hours=4),
        "bp_pre": BloodPressureIn(systolic=126, diastolic=80),
        "observation_min": 130,
    }
    body.update(over)
    with database.transaction() as s:
        return sessions.record(s, world.clinician, SessionIn(**body))


def codes(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["code"]: a for a in view["alerts"]}


def count(database, model, **where: Any) -> int:
    with database.transaction(write=False) as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return s.scalar(q)


def sig(world) -> SignatureIn:
    """The clinician's e-signature components (username and password again)."""
    return SignatureIn(username=world.clinician.username, password=PASSWORD)


def ack_all(database, world, view: dict[str, Any]) -> None:
    for a in view["alerts"]:
        with database.transaction() as s:
            alerts.acknowledge(
                s, world.clinician, a["id"], "reviewed by the doctor on duty", sig(world)
            )


ESK_POST = {"bp_post": BloodPressureIn(systolic=130, diastolic=84), "bp_post_min": 40}


# -- 1. esketamine only in labelled doses ------------------------------------------------------


@pytest.fixture
def esketamine(database, world) -> dict[str, Any]:
    """A fresh patient and course per test (a second session the same day raises its own alert)."""
    pid = new_patient(database, world, **KNOWN)
    return plan(database, world, pid, "esketamine-label")


@pytest.mark.parametrize(
    ("dose", "why"), [(112, "4 devices"), (5600, "200 devices"), (60, "whole")]
)
def test_esketamine_dose_not_on_the_label_raises_a_critical_alert(
    database, world, esketamine, dose, why
):
    s = record(database, world, esketamine["id"], dose_mg=dose, **ESK_POST)
    alert = codes(s)["dose-not-labelled"]
    assert alert["level"] == "critical" and alert["blocks_discharge"] is True
    assert "28, 56 or 84 mg" in alert["message"] and why in alert["message"]
    assert "spravato-dosing-label" in alert["sources"]
    assert alert["facts"]["labelled_doses_mg"] == [28, 56, 84]
    assert s["discharge_blocked"] is True


def test_labelled_esketamine_doses_raise_no_dose_alert(database, world, esketamine):
    first = record(
        database, world, esketamine["id"], dose_mg=56, start=now() - timedelta(days=3), **ESK_POST
    )
    later = record(database, world, esketamine["id"], dose_mg=84, **ESK_POST)
    for s in (first, later):
        assert not {c for c in codes(s) if c.startswith("dose-")}, codes(s)
        assert s["discharge_blocked"] is False


def test_esketamine_against_the_plan(database, world):
    pid = new_patient(database, world, **KNOWN)
    c = plan(database, world, pid, "esketamine-label")
    first = record(database, world, c["id"], dose_mg=84, **ESK_POST)  # day 1 is 56 mg
    above = codes(first)["dose-above-plan"]
    assert above["level"] == "critical" and "56 mg planned" in above["message"]
    low = record(database, world, c["id"], dose_mg=28, **ESK_POST)  # labelled, but for 65+
    assert codes(low)["dose-not-in-plan"]["level"] == "warning"
    assert "dose-not-labelled" not in codes(low)


def test_a_dose_beyond_the_plausible_range_is_refused_and_nothing_written(
    database, world, esketamine
):
    before = count(database, Administration, course_id=esketamine["id"])
    with pytest.raises(InvalidInput) as exc:
        record(database, world, esketamine["id"], dose_mg=20_000, **ESK_POST)
    assert exc.value.detail["field"] == "dose_mg" and "0-10000" in exc.value.detail["allowed"]
    assert count(database, Administration, course_id=esketamine["id"]) == before


# -- 2. ketamine mg/kg and N2O fraction against the plan ---------------------------------------


@pytest.fixture
def ketamine(database, world) -> dict[str, Any]:
    pid = new_patient(database, world, **KNOWN)
    return plan(database, world, pid, "ketamine-iv-weekly", weight_kg=70)


def test_ketamine_5_mg_per_kg_against_a_half_mg_per_kg_plan(database, world, ketamine):
    assert ketamine["plan"]["weight_kg"] == 70
    s = record(
        database, world, ketamine["id"], dose_mg_per_kg=5, dose_mg=350, bp_post=ESK_POST["bp_post"]
    )
    above = codes(s)["dose-above-plan"]
    assert above["level"] == "critical" and above["blocks_discharge"] is True
    assert "5 mg/kg is above the planned 0.5 mg/kg" in above["message"]
    assert "jelen2025" in above["sources"] or "yoon2025" in above["sources"]
    assert "dose-inconsistent" not in codes(s)  # 5 mg/kg x 70 kg is 350 mg


def test_ketamine_mg_above_the_plan_for_the_weight(database, world, ketamine):
    s = record(database, world, ketamine["id"], dose_mg=350)  # mg/kg not given
    assert "5 mg/kg, above the planned 0.5 mg/kg" in codes(s)["dose-above-plan"]["message"]


def test_ketamine_mg_and_mg_per_kg_that_disagree_are_flagged(database, world, ketamine):
    s = record(database, world, ketamine["id"], dose_mg=25, dose_mg_per_kg=0.5)
    bad = codes(s)["dose-inconsistent"]
    assert bad["blocks_discharge"] is True and bad["facts"]["expected_dose_mg"] == 35
    assert "dose-above-plan" not in codes(s)


def test_ketamine_as_planned_raises_no_dose_alert(database, world, ketamine):
    for mg in (35, 35.4):  # within the rounding allowance of the input checks
        s = record(database, world, ketamine["id"], dose_mg=mg, dose_mg_per_kg=0.5)
        assert not {c for c in codes(s) if c.startswith("dose-")}, codes(s)


def test_n2o_fraction_above_the_plan(database, world):
    pid = new_patient(database, world, **KNOWN)
    c = plan(database, world, pid, "n2o-25-weekly")
    s = record(database, world, c["id"], n2o_fraction=0.5, duration_min=60)
    above = codes(s)["dose-above-plan"]
    assert above["level"] == "critical" and "N2O 50% is above the planned 25%" in above["message"]
    ok = record(
        database,
        world,
        c["id"],
        n2o_fraction=0.25,
        duration_min=60,
        start=now() - timedelta(days=7),
    )
    assert "dose-above-plan" not in codes(ok)


def test_dose_fields_an_agent_does_not_take_are_refused(database, world):
    pid = new_patient(database, world, **KNOWN)
    c = plan(database, world, pid, "n2o-50-weekly")
    with pytest.raises(InvalidInput) as exc:
        record(database, world, c["id"], n2o_fraction=0.5, dose_mg=50)
    assert exc.value.detail["field"] == "dose_mg" and "only for agent" in exc.value.message


# -- 3. the post-dose blood pressure ------------------------------------------------------------


def test_esketamine_without_the_40_minute_reading_blocks_discharge(database, world, esketamine):
    s = record(database, world, esketamine["id"], dose_mg=56)
    missing = codes(s)["bp-post-missing"]
    assert missing["blocks_discharge"] is True and "40 min" in missing["message"]
    assert missing["sources"] == ["spravato-hcp-dosing"]
    with database.transaction() as tx:
        early = sessions.update(
            tx,
            world.clinician,
            s["id"],
            SessionUpdate(bp_post=BloodPressureIn(systolic=130, diastolic=82), bp_post_min=15),
            1,
        )
    assert "bp-post-missing" not in codes(early)
    assert codes(early)["bp-post-early"]["blocks_discharge"] is True
    with database.transaction() as tx:
        done = sessions.update(tx, world.clinician, s["id"], SessionUpdate(bp_post_min=40), 2)
    assert not {"bp-post-missing", "bp-post-early", "bp-post-time-missing"} & set(codes(done))
    assert done["bp_post_min"] == 40 and done["discharge_blocked"] is False


# -- 4. discharge not before start + minimum observation ----------------------------------------


def _the_bad_session(database, world, course_id: int, start: datetime) -> dict[str, Any]:
    """The issue's example: 190/112 after dosing, 60 min observation, dissociation unresolved."""
    return record(
        database,
        world,
        course_id,
        start=start,
        dose_mg=56,
        bp_post=BloodPressureIn(systolic=190, diastolic=112),
        bp_post_min=40,
        observation_min=60,
        unresolved=["dissociation"],
    )


def test_discharge_a_minute_after_start_is_refused_even_with_every_alert_acknowledged(
    database, world, esketamine
):
    start = now() - timedelta(minutes=1)
    s = _the_bad_session(database, world, esketamine["id"], start)
    assert {"bp-post-dose", "observation-short", "not-resolved"} <= set(codes(s))
    ack_all(database, world, s)
    with database.transaction() as tx, pytest.raises(Conflict) as exc:
        sessions.discharge(tx, world.clinician, s["id"], 1)
    earliest = start + timedelta(minutes=120)
    assert exc.value.detail["earliest_discharge"] == earliest.isoformat()
    assert earliest.isoformat(timespec="minutes") in exc.value.message
    assert "spravato-rems" in exc.value.detail["sources"]
    with database.transaction(write=False) as tx:
        assert sessions.get(tx, world.clinician, s["id"])["discharged_at"] is None


def test_discharge_before_the_session_start_is_refused(database, world):
    pid = new_patient(database, world, **KNOWN)
    c = plan(database, world, pid, "n2o-50-weekly")
    start = now() + timedelta(minutes=3)  # inside the clock-skew allowance
    s = record(database, world, c["id"], start=start, n2o_fraction=0.5, observation_min=None)
    with database.transaction() as tx, pytest.raises(Conflict) as exc:
        sessions.discharge(tx, world.clinician, s["id"], 1)
    assert exc.value.detail["earliest_discharge"] == start.isoformat()
    assert "the session start" in exc.value.message


def test_a_start_in_the_future_is_refused(database, world, esketamine):
    before = count(database, Administration, course_id=esketamine["id"])
    with pytest.raises(InvalidInput) as exc:
        record(database, world, esketamine["id"], start=now() + timedelta(minutes=30), dose_mg=56)
    assert exc.value.detail["field"] == "start" and "clock-skew" in exc.value.detail["allowed"]
    assert count(database, Administration, course_id=esketamine["id"]) == before


def test_discharge_after_the_minimum_with_notes_succeeds(database, world, esketamine):
    s = _the_bad_session(database, world, esketamine["id"], now() - timedelta(hours=3))
    with database.transaction() as tx, pytest.raises(Conflict, match="acknowledged"):
        sessions.discharge(tx, world.clinician, s["id"], 1)
    ack_all(database, world, s)
    with database.transaction() as tx:
        done = sessions.discharge(tx, world.clinician, s["id"], 1, sig(world))
    assert done["discharged_at"] and done["discharged_by"] == world.clinician.user_id


# -- 5. acknowledging needs a note --------------------------------------------------------------


def test_acknowledging_a_blocking_alert_needs_a_note_and_records_who_and_when(
    database, world, esketamine
):
    s = _the_bad_session(database, world, esketamine["id"], now() - timedelta(hours=3))
    blocking = codes(s)["not-resolved"]
    for note in (None, "", "   "):
        with database.transaction() as tx, pytest.raises(InvalidInput) as exc:
            alerts.acknowledge(tx, world.clinician, blocking["id"], note)
        assert exc.value.detail["field"] == "note"
    with database.transaction() as tx:
        view = alerts.acknowledge(
            tx, world.clinician, blocking["id"], "  CADSS 4, resolved  ", sig(world)
        )
    assert view["acknowledged_by"] == world.clinician.user_id
    assert view["acknowledged_by_username"] == world.clinician.username
    assert view["acknowledgement_note"] == "CADSS 4, resolved"
    at = datetime.fromisoformat(view["acknowledged_at"])
    assert abs((at - now()).total_seconds()) < 60
    with database.transaction() as tx:
        events = audit.list_events(
            tx, world.admin, patient_id=_patient_of(tx, s["id"]), entity="alert"
        )["items"]
    (event,) = [
        e for e in events if e["entity_id"] == str(blocking["id"]) and e["action"] == "update"
    ]
    assert event["user_id"] == world.clinician.user_id
    assert event["after"]["acknowledged_by"] == world.clinician.user_id
    assert event["after"]["acknowledged_at"] == view["acknowledged_at"]
    assert event["after"]["note"] == "CADSS 4, resolved"
    with database.transaction(write=False) as tx:
        shown = codes(sessions.get(tx, world.clinician, s["id"]))["not-resolved"]
    assert shown["acknowledged_by_username"] == world.clinician.username


def _patient_of(tx, session_id: int) -> int:
    return tx.get(Administration, session_id).patient_id


def test_a_non_blocking_alert_may_be_acknowledged_without_a_note(database, world, ketamine):
    s = record(database, world, ketamine["id"], dose_mg=35, bp_pre=None)
    info = codes(s)["bp-pre-missing"]
    assert info["blocks_discharge"] is False
    with database.transaction() as tx:
        assert alerts.acknowledge(tx, world.clinician, info["id"], None, sig(world))[
            "acknowledged_at"
        ]


# -- 6. overriding a contraindication -----------------------------------------------------------


@pytest.fixture(scope="module")
def pneumothorax(database, world) -> int:
    return new_patient(database, world, **KNOWN, conditions=["pneumothorax"])


def test_planning_n2o_for_a_pneumothorax_needs_an_override(database, world, pneumothorax):
    before = count(database, Course, patient_id=pneumothorax)
    with pytest.raises(InvalidInput) as exc:
        plan(database, world, pneumothorax, "n2o-50-weekly")
    err = exc.value.to_dict()
    assert err["field"] == "override_reason" and "pneumothorax" in err["allowed"]
    assert "entonox-spc" in err["allowed"]
    (reason,) = err["contraindications"]
    assert reason["facts"] == ["pneumothorax"] and "entonox-spc" in reason["sources"]
    with pytest.raises(InvalidInput, match="override_reason"):
        plan(database, world, pneumothorax, "n2o-50-weekly", override_reason="   ")
    assert count(database, Course, patient_id=pneumothorax) == before


def test_an_override_is_stored_shown_and_audited(database, world, pneumothorax):
    why = "pneumothorax resolved on CT; anaesthetist consulted"
    c = plan(database, world, pneumothorax, "n2o-50-weekly", override_reason=why)
    assert c["override"]["reason"] == why and c["override"]["agent"] == "n2o"
    assert c["override"]["contraindications"][0]["facts"] == ["pneumothorax"]
    with database.transaction(write=False) as tx:
        assert courses.get(tx, world.clinician, c["id"])["override"]["reason"] == why
        listed = courses.list_for(tx, world.clinician, pneumothorax)
    assert [x["override"]["reason"] for x in listed if x["id"] == c["id"]] == [why]
    with database.transaction() as tx:  # reading the trail is itself recorded: a write
        events = audit.list_events(tx, world.admin, patient_id=pneumothorax, entity="course")
    overrides = [e for e in events["items"] if e["action"] == "override"]
    assert overrides and overrides[-1]["after"]["reason"] == why
    assert overrides[-1]["username"] == world.clinician.username

    # each session asks again: the screening is computed from the facts at that moment
    with pytest.raises(InvalidInput) as exc:
        record(database, world, c["id"], n2o_fraction=0.5, duration_min=60)
    assert exc.value.detail["field"] == "override_reason"
    s = record(
        database, world, c["id"], n2o_fraction=0.5, duration_min=60, override_reason="as planned"
    )
    assert s["override"]["reason"] == "as planned"
    with database.transaction() as tx:  # reading the trail is itself recorded: a write
        events = audit.list_events(tx, world.admin, patient_id=pneumothorax, entity="session")
    assert [e["after"]["reason"] for e in events["items"] if e["action"] == "override"] == [
        "as planned"
    ]


def test_no_override_needed_when_the_facts_no_longer_contraindicate(database, world):
    pid = new_patient(database, world, **KNOWN, conditions=["pneumothorax"])
    with database.transaction() as tx:
        p = patients.get(tx, world.clinician, pid)
        patients.update(
            tx, world.clinician, pid, PatientUpdate(facts={**KNOWN, "conditions": []}), p["version"]
        )
    c = plan(database, world, pid, "n2o-50-weekly")
    assert c["override"] is None
    with pytest.raises(InvalidInput, match="nothing to override"):
        plan(database, world, pid, "n2o-50-weekly", override_reason="just in case")


# -- stale screenings ---------------------------------------------------------------------------


def test_a_stored_screening_is_stale_once_the_facts_change(database, world):
    pid = new_patient(database, world, **KNOWN)
    with database.transaction() as tx:
        screening_service.screen_patient(tx, world.clinician, pid)
    with database.transaction(write=False) as tx:
        fresh = screening_service.latest(tx, world.researcher, pid)
    assert fresh["stale"] is False and fresh["stale_reason"] is None
    with database.transaction() as tx:
        p = patients.get(tx, world.clinician, pid)
        patients.update(
            tx,
            world.clinician,
            pid,
            PatientUpdate(facts={**KNOWN, "conditions": ["pneumothorax"]}),
            p["version"],
        )
    with database.transaction(write=False) as tx:
        old = screening_service.latest(tx, world.clinician, pid)
    assert old["id"] == fresh["id"] and old["stale"] is True
    assert "conditions" in old["stale_reason"] and "screen again" in old["stale_reason"]
    assert old["agents"]["n2o"]["status"] != "contraindicated"  # what it said then
    with database.transaction() as tx:
        screening_service.screen_patient(tx, world.clinician, pid)
    with database.transaction(write=False) as tx:
        new = screening_service.latest(tx, world.clinician, pid)
    assert new["stale"] is False and new["agents"]["n2o"]["status"] == "contraindicated"


def test_a_second_esketamine_dose_the_same_day_is_a_critical_alert(database, world, esketamine):
    """56 mg then 84 mg two and a half hours later: no regimen gives two doses a day, and
    140 mg is above the largest labelled dose."""
    day = (now() - timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    first = record(database, world, esketamine["id"], dose_mg=56, start=day, **ESK_POST)
    assert "repeat-dose-same-day" not in codes(first)
    second = record(
        database,
        world,
        esketamine["id"],
        dose_mg=84,
        start=day + timedelta(hours=2, minutes=30),
        **ESK_POST,
    )
    alert = codes(second)["repeat-dose-same-day"]
    assert alert["level"] == "critical" and alert["blocks_discharge"] is True
    assert (
        alert["facts"]["total_mg_that_day"] == 140
        and "above the largest labelled dose" in alert["message"]
    )
