"""The read-only connection (issue 23): ``RAAD_DATABASE_READ_URL`` / ``Database(read_url=)``
serves research and cohort reads; any write through it is refused by the database itself,
while the primary keeps writing; the research export reads through it."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError

from raad.store import Database
from raad.store.models import Site


@pytest.fixture
def replicated(database):
    db = Database(database.url, read_url=database.url)
    yield db
    db.dispose()


def test_writes_through_the_read_only_connection_are_refused(replicated, world):
    with replicated.transaction(write=False, replica=True) as s:
        assert s.scalar(select(Site.code).where(Site.code == world.site)) == world.site
    with (
        pytest.raises(DBAPIError) as refused,
        replicated.transaction(write=False, replica=True) as s,
    ):
        s.execute(text("UPDATE sites SET name = name WHERE code = :c"), {"c": world.site})
    assert "read" in str(refused.value).lower()  # "read-only transaction" / "readonly database"
    with replicated.transaction() as s:  # the primary still writes
        s.execute(text("UPDATE sites SET name = name WHERE code = :c"), {"c": world.site})


def test_without_a_read_url_replica_reads_use_the_primary(database, monkeypatch):
    monkeypatch.delenv("RAAD_DATABASE_READ_URL", raising=False)
    db = Database(database.url)
    try:
        assert db.replica_engine is None
        with db.transaction(write=False, replica=True) as s:
            # the primary's reads (on PostgreSQL their own read-only pool on the primary)
            assert s.get_bind() is db._read_engine
            assert s.get_bind().url == db.engine.url
    finally:
        db.dispose()


def test_the_research_export_reads_through_the_replica(replicated, world, tmp_path):
    from fastapi.testclient import TestClient

    from raad.api import create_app
    from tests.dbfixtures import PASSWORD

    seen: list[str] = []

    @event.listens_for(replicated.replica_engine, "before_cursor_execute")
    def _count(conn, cursor, statement, *args):
        seen.append(statement)

    with TestClient(create_app(replicated), raise_server_exceptions=False) as c:
        r = c.post(
            "/auth/token", data={"username": world.usernames["researcher"], "password": PASSWORD}
        )
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert c.get("/research/export/sessions.csv", headers=h).status_code == 200
    assert any("administrations" in q for q in seen)
