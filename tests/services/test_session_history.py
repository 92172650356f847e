"""The sessions the safety monitor reads as a session's history, read with its course in one
round trip on PostgreSQL (``sessions._course_with_history``): the same rows, values and types as
the separate statement (``sessions._history_rows``) on either database, and what the history
rules and the plan's dose number then say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from raad.services import sessions
from tests.services.helpers import through_asyncpg
from tests.services.test_label_safety import ESK_POST, KNOWN, codes, new_patient, plan, record


def _as_tuples(rows) -> list[tuple]:
    return sorted((r.agent, r.course_id, r.start, r.duration_min, r.dose_mg) for r in rows)


def test_the_history_read_with_the_course_is_the_patients_other_sessions(database, world):
    pid = new_patient(database, world, **KNOWN)
    esk = plan(database, world, pid, "esketamine-label")
    n2o = plan(database, world, pid, "n2o-50-twice-weekly")
    other = plan(database, world, new_patient(database, world, **KNOWN), "n2o-50-twice-weekly")
    with database.transaction(write=False) as s:
        course, history = sessions._course_with_history(s, n2o["id"])
    assert course.id == n2o["id"] and course.patient_id == pid
    assert history in ([], None)  # no sessions yet: an empty history, not a missing one

    day = datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=UTC)  # microseconds kept
    record(database, world, esk["id"], dose_mg=56, start=day, **ESK_POST)
    record(
        database,
        world,
        n2o["id"],
        start=day + timedelta(days=3, minutes=7),
        duration_min=45.5,
        n2o_fraction=0.5,
    )
    record(database, world, other["id"], start=day, duration_min=60, n2o_fraction=0.5)

    with database.transaction(write=False) as s:
        course, history = sessions._course_with_history(s, n2o["id"])
        separate = sessions._history_rows(s, SimpleNamespace(patient_id=pid, id=None))
    expected = [
        ("esketamine", esk["id"], day, None, 56.0),
        ("n2o", n2o["id"], day + timedelta(days=3, minutes=7), 45.5, None),
    ]
    assert _as_tuples(separate) == expected  # the other patient's session is not in it
    if database.engine.dialect.name == "postgresql":
        assert _as_tuples(history) == expected
        assert all(r.start.utcoffset() == timedelta(0) for r in history)
        # and through asyncpg, the API's event-loop driver, which decodes the arrays itself
        _, loop_history = through_asyncpg(
            database, lambda conn: sessions._course_with_history(conn, n2o["id"])
        )
        assert _as_tuples(loop_history) == expected
        assert all(r.start.utcoffset() == timedelta(0) for r in loop_history)
    else:
        assert history is None  # SQLite reads them with the separate statement

    with database.transaction(write=False) as s:
        assert sessions._course_with_history(s, 10**9) == (None, None)


def test_the_history_read_with_the_course_drives_the_same_day_rule(database, world):
    """The history rule on the record path: a second esketamine dose the same day is a critical
    alert (as in test_label_safety), now with the history read before the insert."""
    pid = new_patient(database, world, **KNOWN)
    esk = plan(database, world, pid, "esketamine-label")
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=9, minute=0)
    first = record(database, world, esk["id"], dose_mg=56, start=day, **ESK_POST)
    assert "repeat-dose-same-day" not in codes(first)
    second = record(
        database, world, esk["id"], dose_mg=56, start=day + timedelta(hours=3), **ESK_POST
    )
    assert codes(second)["repeat-dose-same-day"]["facts"]["total_mg_that_day"] == 112
    # a session the next day: the first two are history, neither on its day
    third = record(
        database, world, esk["id"], dose_mg=56, start=day + timedelta(days=1), **ESK_POST
    )
    assert "repeat-dose-same-day" not in codes(third)
