"""PostgreSQL transactions of the busiest routes run on the event loop (issue 23): psycopg's
async connections through SQLAlchemy's asyncio extension, the service code unchanged in a
greenlet; ``RAAD_PG_THREADS=1`` keeps the thread pool. Writes land and are audited either
way."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from raad.store.models import AuditEvent
from tests.api.helpers import new_patient, phq9_items, post_rating


@pytest.fixture
def pg_api(api, database):
    if database.dialect != "postgresql":
        pytest.skip("the event-loop path is PostgreSQL's")
    return api


def _audited(database, pid: int) -> int:
    with database.transaction(write=False) as s:
        return s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.patient_id == pid)
        )


def test_writes_run_on_the_event_loop_engine(pg_api, database, monkeypatch):
    monkeypatch.delenv("RAAD_PG_THREADS", raising=False)
    p = new_patient(pg_api)
    before = _audited(database, p["id"])
    post_rating(pg_api, p["id"], "PHQ-9", phq9_items(12), "2026-01-04T09:00:00+00:00")
    assert database.loop_ready and database._loop_parts is not None
    assert _audited(database, p["id"]) == before + 1  # the rating's audit row, chained


def test_the_thread_pool_can_be_kept(pg_api, database, monkeypatch):
    monkeypatch.setenv("RAAD_PG_THREADS", "1")
    assert not database.loop_ready
    p = new_patient(pg_api)
    post_rating(pg_api, p["id"], "PHQ-9", phq9_items(3), "2026-01-04T09:00:00+00:00")
    r = pg_api.client.get(f"/patients/{p['id']}/summary", headers=pg_api.h("clinician"))
    assert r.status_code == 200
