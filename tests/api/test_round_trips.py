"""Statements per request on PostgreSQL's busiest routes (issue 23): on this path a request's
cost is mostly its round trips, so their number is held here. Counted: the SQL statements the
request sends besides the bearer token's lookup (and its occasional touch); BEGIN and COMMIT
are not statements here.

- GET /patients/{id}/summary: 1 (the patient, latest course, trials, scored ratings and open
  alerts in one statement through asyncpg)
- POST /sessions: 3 (the course with the patient's sessions lock and the new id; the history
  under that lock; the session, its alerts and its audit row in one statement)
- POST /patients/{id}/assessments: 2 (the patient with the new id; the rating, its alerts and
  its audit row in one statement)

The answers are checked too: ids given, alerts stored with them, audit rows chained."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from raad.services import audit
from raad.store.models import Alert, AuditEvent
from tests.api.helpers import new_course, new_patient, phq9_items, session_body


@pytest.fixture
def pg_api(api, database, monkeypatch):
    if database.dialect != "postgresql":
        pytest.skip("the counts are PostgreSQL's (SQLite's statements are local)")
    monkeypatch.delenv("RAAD_PG_THREADS", raising=False)
    return api


@contextmanager
def statements():
    sent: list[str] = []

    def listen(_conn, _cursor, statement, *_args):
        if "auth_tokens" not in statement:
            sent.append(" ".join(statement.split())[:80])

    event.listen(Engine, "before_cursor_execute", listen)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", listen)


def test_round_trips_of_the_busiest_routes(pg_api, database):
    api = pg_api
    p = new_patient(api)
    course = new_course(api, p["id"], start="2026-01-05")
    h = api.h("clinician")
    api.client.get(f"/patients/{p['id']}/summary", headers=h)  # warm: statements prepared

    with statements() as sent:
        r = api.client.post("/sessions", json=session_body(course["id"]), headers=h)
    assert r.status_code == 201, r.text
    assert len(sent) == 3, sent
    session = r.json()

    with statements() as sent:
        r = api.client.post(
            f"/patients/{p['id']}/assessments",
            json={
                "instrument": "PHQ-9",
                "responses": phq9_items(20),  # item 9 > 0: an alert
                "administered_at": "2026-01-05T11:00:00+00:00",
            },
            headers=h,
        )
    assert r.status_code == 201, r.text
    assert len(sent) == 2, sent
    rating = r.json()
    assert rating["alerts"] and all(isinstance(a["id"], int) for a in rating["alerts"])

    with statements() as sent:
        r = api.client.get(f"/patients/{p['id']}/summary", headers=h)
    assert r.status_code == 200 and len(sent) == 1, sent
    summary = r.json()
    assert {a["id"] for a in rating["alerts"]} <= {a["id"] for a in summary["open_alerts"]}
    assert summary["current_course"]["sessions_recorded"] == 1

    with database.transaction(write=False) as s:
        stored = s.scalars(select(Alert).where(Alert.assessment_id == rating["id"])).all()
        assert sorted(a.id for a in stored) == sorted(a["id"] for a in rating["alerts"])
        written = {
            (e.entity, e.entity_id)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.patient_id == p["id"]))
        }
        assert {("session", str(session["id"])), ("assessment", str(rating["id"]))} <= written
        assert audit.verify(s).ok
