"""The history the safety monitor reads when a session is recorded: the patient's other
sessions, including one committed by another request while this one was being recorded
(PostgreSQL serialises a patient's session writes with ``sessions.SESSIONS_LOCK``; SQLite's
writers are serial). A second esketamine dose the same day is a critical alert
(test_label_safety) even when the two are recorded at the same moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from raad.services import sessions
from tests.services.test_label_safety import ESK_POST, KNOWN, codes, new_patient, plan, record


def test_the_same_day_rule_reads_the_patients_other_sessions(database, world):
    pid = new_patient(database, world, **KNOWN)
    esk = plan(database, world, pid, "esketamine-label")
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=9, minute=0)
    first = record(database, world, esk["id"], dose_mg=56, start=day, **ESK_POST)
    assert "repeat-dose-same-day" not in codes(first)
    second = record(
        database, world, esk["id"], dose_mg=56, start=day + timedelta(hours=3), **ESK_POST
    )
    assert codes(second)["repeat-dose-same-day"]["facts"]["total_mg_that_day"] == 112
    third = record(
        database, world, esk["id"], dose_mg=56, start=day + timedelta(days=1), **ESK_POST
    )
    assert "repeat-dose-same-day" not in codes(third)


def test_two_doses_recorded_at_once_still_meet_the_same_day_rule(database, world, monkeypatch):
    """Two requests record a dose each for one patient the same day, the second starting while
    the first is still between reading the patient's record and committing (held there for
    0.8 s). The second must see the first: without the patient's lock both read a history
    without the other and neither raised the alert."""
    pid = new_patient(database, world, **KNOWN)
    esk = plan(database, world, pid, "esketamine-label")
    day = (datetime.now(UTC) - timedelta(days=3)).replace(hour=9, minute=0)
    first_inside = threading.Event()
    real = sessions.check_override

    def slow_for_the_first(db, patient_id, agent, override_reason, facts=None):
        if not first_inside.is_set():  # the first request (the second waits for this)
            first_inside.set()
            time.sleep(0.8)
        return real(db, patient_id, agent, override_reason, facts=facts)

    monkeypatch.setattr(sessions, "check_override", slow_for_the_first)

    def dose(hours: int):
        if hours:
            assert first_inside.wait(10)
            time.sleep(0.1)
        return record(
            database, world, esk["id"], dose_mg=56, start=day + timedelta(hours=hours), **ESK_POST
        )

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(dose, (0, 3))
    assert "repeat-dose-same-day" not in codes(first)
    alert = codes(second).get("repeat-dose-same-day")
    assert alert is not None, "the second dose did not see the first"
    assert alert["level"] == "critical" and alert["facts"]["total_mg_that_day"] == 112


def test_a_session_without_a_reserved_id_still_links_its_alerts_and_audit_row(
    database, world, monkeypatch
):
    """Where no id could be reserved (no sequence found for the table), the session is inserted
    before its alerts and audit row are written, which then name it (not NULL)."""
    from types import SimpleNamespace

    from sqlalchemy import select

    from raad.store.models import Alert, AuditEvent

    real = sessions._course_for_writing

    def without_id(db, course_id):
        row = real(db, course_id)
        return SimpleNamespace(**{**row._mapping, "next_id": None})

    monkeypatch.setattr(sessions, "_course_for_writing", without_id)
    pid = new_patient(database, world, **KNOWN)
    esk = plan(database, world, pid, "esketamine-label")
    day = (datetime.now(UTC) - timedelta(days=4)).replace(hour=9, minute=0)
    view = record(database, world, esk["id"], dose_mg=112, start=day, **ESK_POST)
    assert view["id"] and view["alerts"]
    with database.transaction(write=False) as s:
        linked = s.scalars(select(Alert.administration_id).where(Alert.patient_id == pid)).all()
        named = s.scalars(
            select(AuditEvent.entity_id).where(
                AuditEvent.patient_id == pid, AuditEvent.entity == "session"
            )
        ).all()
    assert linked and set(linked) == {view["id"]}
    assert named == [str(view["id"])]
