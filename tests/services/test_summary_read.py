"""The summary's read: on PostgreSQL one statement brings the patient, the latest course and the
three lists (trials, scored ratings, open alerts) as arrays of records
(``store.core.NestedRows``); the rows, their order, values and types are those of the four
separate statements SQLite runs. Both reads are run on PostgreSQL and compared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from raad.services import alerts, assessments, patients, summary
from raad.services.errors import NotFound
from raad.services.schemas import AssessmentIn, TrialIn
from tests.dbfixtures import PASSWORD
from tests.services.helpers import through_asyncpg
from tests.services.test_label_safety import ESK_POST, KNOWN, new_patient, plan, record


def _fill(database, world) -> int:
    pid = new_patient(database, world, **KNOWN)
    other = new_patient(database, world, **KNOWN)
    course = plan(database, world, pid, "esketamine-label")
    with database.transaction() as s:
        patients.add_trial(
            s, world.clinician, pid, TrialIn(atc="N06AB06", weeks=8, outcome="non-response")
        )
        patients.add_trial(
            s,
            world.clinician,
            pid,
            TrialIn(
                drug="venlafaxine",
                atc="N06AX16",
                weeks=6.5,
                adequate_dose=True,
                improvement_percent=12.5,
                current_episode=True,
            ),
        )
    at = datetime(2026, 10, 1, 9, 30, 15, 250000, tzinfo=UTC)
    ratings = [
        ("PHQ-9", {str(i): 3 for i in range(1, 10)}, at),  # item 9 > 0: an open alert
        ("PHQ-9", {str(i): 1 for i in range(1, 10)}, at + timedelta(days=7)),
        ("PHQ-9", {str(i): 0 for i in range(1, 10)}, at + timedelta(days=7)),  # same time
        ("MADRS", {str(i): 2 for i in range(1, 11)}, at + timedelta(days=2)),
    ]
    for who in (pid, other):
        for instrument, responses, when in ratings:
            with database.transaction() as s:
                assessments.record(
                    s,
                    world.clinician,
                    who,
                    AssessmentIn(instrument=instrument, responses=responses, administered_at=when),
                )
    high = record(  # 4 devices: not a labelled dose, a critical alert on the session
        database, world, course["id"], dose_mg=112, start=at + timedelta(days=1), **ESK_POST
    )
    assert high["alerts"], "a dose not on the label raises alerts"
    with database.transaction() as s:  # a rating taken in the session: administration_id set
        assessments.record(
            s,
            world.clinician,
            pid,
            AssessmentIn(
                instrument="CADSS",
                responses={str(i): 1 for i in range(1, 24)},
                administered_at=at + timedelta(days=1, hours=1),
                administration_id=high["id"],
            ),
        )
    with database.transaction() as s:  # one acknowledged: not open any more
        alerts.acknowledge(
            s,
            world.clinician,
            high["alerts"][0]["id"],
            "reviewed by the doctor on duty",
            _signature(world),
        )
    return pid


def _signature(world):
    from raad.services.schemas import SignatureIn

    return SignatureIn(username=world.clinician.username, password=PASSWORD)


def _plain(rows) -> list[dict]:
    return [r._asdict() if hasattr(r, "_asdict") else vars(r) for r in rows]


def test_one_statement_reads_what_the_four_statements_read(database, world):
    pid = _fill(database, world)
    with database.transaction(write=False) as s:
        head, lists = summary._read_separately(s.connection(), pid)
        out = summary.summary(s, world.clinician, pid)
    if database.engine.dialect.name == "postgresql":

        def both(conn):
            assert conn.dialect.driver == "asyncpg" and summary.NestedRows.available(conn.dialect)
            return summary._read_separately(conn, pid), summary._read_at_once(
                conn, world.clinician, pid
            )

        (head, lists), (at_once, lists_at_once) = through_asyncpg(database, both)
        assert tuple(at_once)[: len(tuple(head))] == tuple(head)
        for name in ("trials", "totals", "open_alerts"):
            expected, got = _plain(lists[name]), _plain(lists_at_once[name])
            assert got == expected, name
            # types too: aware UTC times, JSON as Python objects, floats as floats
            for e, g in zip(expected, got, strict=True):
                assert {k: type(v) for k, v in g.items()} == {k: type(v) for k, v in e.items()}
    else:
        assert not summary.NestedRows.available(database.engine.dialect)
    assert [len(lists[n]) for n in ("trials", "totals", "open_alerts")] == [
        2,
        5,
        len(out["open_alerts"]),
    ]
    assert any(r.administration_id for r in lists["totals"])
    assert [t["atc"] for t in _plain(lists["trials"])] == ["N06AB06", "N06AX16"]
    phq = next(e for e in out["scores"] if e["instrument"] == "PHQ-9")
    # the latest of two at the same time is the one written last (higher id): total 0
    assert phq["count"] == 3 and phq["latest"]["total"] == 0 and phq["baseline"]["total"] == 27
    codes = [a["code"] for a in out["open_alerts"]]
    assert codes and all(a["acknowledged_at"] is None for a in out["open_alerts"])
    assert [a["id"] for a in out["open_alerts"]] == sorted(a["id"] for a in out["open_alerts"])
    assert all(a["patient_id"] == pid for a in out["open_alerts"] if "patient_id" in a)


def test_an_unknown_patient_is_not_found_on_either_read(database, world):
    with database.transaction(write=False) as s, pytest.raises(NotFound, match="not found"):
        summary._read(s, world.clinician, 10**9)


def test_the_summary_through_asyncpg_is_the_summary_through_psycopg(database, world):
    """End to end, for each role: the same answer from one statement (asyncpg) as from four
    (psycopg); a clinician of another site is refused on both, and the refused reader's
    statement carries no lists (they are read only for a reader the site allows)."""
    from raad.services.errors import Forbidden

    if database.dialect != "postgresql":
        pytest.skip("asyncpg is PostgreSQL's")
    pid = _fill(database, world)
    for actor in (world.clinician, world.researcher, world.admin):
        with database.transaction(write=False) as s:
            expected = summary.summary(s, actor, pid)
        got = through_asyncpg(database, lambda conn, a=actor: summary.summary(conn, a, pid))
        assert got == expected, actor.role
    assert expected["open_alerts"] and expected["scores"] and expected["trd"]
    for read in (
        lambda conn: summary.summary(conn, world.other_clinician, pid),
        lambda conn: summary._read(conn, world.other_clinician, 10**9),
    ):
        with pytest.raises((Forbidden, NotFound)):
            through_asyncpg(database, read)
    _, refused = through_asyncpg(
        database, lambda conn: summary._read_at_once(conn, world.other_clinician, pid)
    )
    _, allowed = through_asyncpg(
        database, lambda conn: summary._read_at_once(conn, world.clinician, pid)
    )
    assert all(refused[name] == [] for name in refused)
    from raad.services.context import Actor

    no_site = Actor(world.clinician.user_id, world.clinician.username, "clinician", None)
    _, siteless = through_asyncpg(database, lambda conn: summary._read_at_once(conn, no_site, pid))
    assert all(siteless[name] == [] for name in siteless)
    with pytest.raises(Forbidden):
        through_asyncpg(database, lambda conn: summary.summary(conn, no_site, pid))
    assert all(allowed[name] for name in allowed)
