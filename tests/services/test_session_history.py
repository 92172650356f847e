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


def test_a_course_closed_while_a_session_is_recorded_waits_for_it(database, world, monkeypatch):
    """The course is set completed while a session on it is between its first read and its
    commit (held 0.8 s): the change waits for the session (PostgreSQL: the course row is
    share-locked; SQLite: writers are serial), so the session is recorded on a course that was
    still active and the change follows it in the audit trail. Without the lock the change
    committed first and the session landed on a completed course."""
    from sqlalchemy import select

    from raad.services import courses
    from raad.store.models import AuditEvent

    pid = new_patient(database, world, **KNOWN)
    esk = plan(database, world, pid, "esketamine-label")
    inside = threading.Event()
    real = sessions.check_override

    def slow(db, patient_id, agent, override_reason, facts=None):
        inside.set()
        time.sleep(0.8)
        return real(db, patient_id, agent, override_reason, facts=facts)

    monkeypatch.setattr(sessions, "check_override", slow)
    start = (datetime.now(UTC) - timedelta(days=5)).replace(hour=9, minute=0)

    def session():
        return record(database, world, esk["id"], dose_mg=56, start=start, **ESK_POST)

    def close():
        assert inside.wait(10)
        time.sleep(0.1)
        with database.transaction() as s:
            return courses.set_status(s, world.clinician, esk["id"], "completed", esk["version"])

    with ThreadPoolExecutor(2) as pool:
        recorded, closed = pool.submit(session), pool.submit(close)
        view, course = recorded.result(), closed.result()
    assert view["id"] and course["status"] == "completed"
    with database.transaction(write=False) as s:
        order = [
            (e.entity, e.action)
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.patient_id == pid, AuditEvent.entity.in_(("session", "course")))
                .order_by(AuditEvent.id)
            )
        ]
    assert order[-2:] == [("session", "create"), ("course", "update")], order


def test_a_session_started_while_its_course_is_being_closed_is_refused(database, world):
    """The other order: the course's change is made first and held 0.8 s before its commit; the
    session waits for it, reads the course as completed and is refused (409), writing nothing."""
    from sqlalchemy import func, select

    from raad.services import Conflict, courses
    from raad.store.models import Administration

    pid = new_patient(database, world, **KNOWN)
    esk = plan(database, world, pid, "esketamine-label")
    changed = threading.Event()

    def close():
        with database.transaction() as s:
            out = courses.set_status(s, world.clinician, esk["id"], "completed", esk["version"])
            changed.set()
            time.sleep(0.8)
        return out

    def session():
        assert changed.wait(10)
        start = (datetime.now(UTC) - timedelta(days=6)).replace(hour=9, minute=0)
        try:
            record(database, world, esk["id"], dose_mg=56, start=start, **ESK_POST)
        except Conflict as exc:
            return str(exc)
        return "recorded"

    with ThreadPoolExecutor(2) as pool:
        closed, refused = pool.submit(close), pool.submit(session)
        assert closed.result()["status"] == "completed"
        assert "is completed" in refused.result(), refused.result()
    with database.transaction(write=False) as s:
        n = s.scalar(
            select(func.count())
            .select_from(Administration)
            .where(Administration.course_id == esk["id"])
        )
    assert n == 0
