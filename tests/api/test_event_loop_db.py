"""PostgreSQL transactions of the busiest routes run on the event loop (issue 23): asyncpg
(or psycopg's async connections) through SQLAlchemy's asyncio extension, the service code
unchanged in a greenlet; ``RAAD_PG_THREADS=1`` keeps the thread pool. Writes land and are
audited either way, and answers are the same."""

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
    assert database.loop_ready and len(database._loop_parts) > 0
    assert _audited(database, p["id"]) == before + 1  # the rating's audit row, chained


def test_the_thread_pool_can_be_kept(pg_api, database, monkeypatch):
    monkeypatch.setenv("RAAD_PG_THREADS", "1")
    assert not database.loop_ready
    p = new_patient(pg_api)
    post_rating(pg_api, p["id"], "PHQ-9", phq9_items(3), "2026-01-04T09:00:00+00:00")
    r = pg_api.client.get(f"/patients/{p['id']}/summary", headers=pg_api.h("clinician"))
    assert r.status_code == 200


def test_the_loop_engine_is_asyncpg_unless_told_or_unsafe(pg_api, database, monkeypatch):
    """asyncpg by default; psycopg's async connections when asked, through PgBouncer, or when
    the URL carries a libpq setting asyncpg might read differently; a bad choice is named."""
    from sqlalchemy.engine import URL, make_url

    from raad.store.db import pg_loop_engine

    def driver(url: str) -> str:
        engine = pg_loop_engine(url)
        try:
            return engine.sync_engine.dialect.driver
        finally:
            engine.sync_engine.dispose(close=False)

    url = database.url
    monkeypatch.delenv("RAAD_PG_ASYNC_DRIVER", raising=False)
    monkeypatch.delenv("RAAD_PGBOUNCER", raising=False)
    assert driver(url) == "asyncpg"
    assert driver(f"{url}?sslmode=disable&connect_timeout=5") == "asyncpg"
    translated = pg_loop_engine(f"{url}?sslmode=disable&connect_timeout=5")
    try:
        assert make_url(str(translated.url)).query == {}
    finally:
        translated.sync_engine.dispose(close=False)
    assert driver(f"{url}?target_session_attrs=read-write") == "psycopg"
    u = make_url(url)
    no_host = URL.create(u.drivername, u.username, u.password, database=u.database)
    no_host = no_host.render_as_string(hide_password=False)
    assert driver(f"{no_host}?host=/var/run/postgresql&port=5432") == "asyncpg"
    assert driver(f"{no_host}?host=a.example,b.example") == "psycopg"  # libpq's host list
    assert driver(f"{url}?host=/var/run/postgresql") == "psycopg"  # two hosts given
    monkeypatch.setenv("RAAD_PGBOUNCER", "1")
    assert driver(url) == "psycopg"
    monkeypatch.delenv("RAAD_PGBOUNCER")
    monkeypatch.setenv("RAAD_PG_ASYNC_DRIVER", "psycopg")
    assert driver(url) == "psycopg"
    monkeypatch.setenv("RAAD_PG_ASYNC_DRIVER", "pg8000")
    with pytest.raises(ValueError, match="RAAD_PG_ASYNC_DRIVER"):
        pg_loop_engine(url)


def test_summaries_and_writes_on_asyncpg_match_the_thread_pool(pg_api, database, monkeypatch):
    """The same requests give the same answers on the event loop (asyncpg) and in the thread
    pool (psycopg): the summary after a rating and a session, byte for byte."""
    monkeypatch.delenv("RAAD_PG_THREADS", raising=False)
    p = new_patient(pg_api)
    post_rating(pg_api, p["id"], "PHQ-9", phq9_items(14), "2026-01-04T09:00:00+00:00")
    post_rating(pg_api, p["id"], "PHQ-9", phq9_items(6), "2026-01-11T09:00:00+00:00")
    url = f"/patients/{p['id']}/summary"
    on_loop = pg_api.client.get(url, headers=pg_api.h("clinician"))
    monkeypatch.setenv("RAAD_PG_THREADS", "1")
    in_threads = pg_api.client.get(url, headers=pg_api.h("clinician"))
    assert on_loop.status_code == in_threads.status_code == 200
    assert on_loop.json() == in_threads.json()
    assert on_loop.json()["scores"][0]["count"] == 2


def test_asyncpg_reaches_a_server_on_this_machine_through_its_unix_socket(database):
    """``?host=<socket directory>`` in the URL (libpq's way to use a Unix socket) is passed to
    asyncpg, and the event loop's connections use the socket: the server sees no client
    address."""
    import asyncio
    from pathlib import Path

    from sqlalchemy import text
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import OperationalError

    from raad.store.db import pg_loop_engine

    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL's connections")
    u = make_url(database.url)
    socket_dir = "/var/run/postgresql"
    if (
        u.host not in ("127.0.0.1", "localhost")
        or not Path(f"{socket_dir}/.s.PGSQL.{u.port or 5432}").exists()
    ):
        pytest.skip("a PostgreSQL server on this machine with its socket in /var/run/postgresql")

    def engine_on(directory: str):
        url = URL.create(
            u.drivername,
            u.username,
            u.password,
            database=u.database,
            query={"host": directory, "port": str(u.port or 5432)},
        )
        return pg_loop_engine(url.render_as_string(hide_password=False))

    async def ask(engine) -> tuple[object, str]:
        try:
            async with engine.connect() as c:
                row = (await c.execute(text("SELECT inet_server_addr(), current_database()"))).one()
                return row[0], row[1]
        finally:
            await engine.dispose()

    engine = engine_on(socket_dir)
    assert engine.sync_engine.dialect.driver == "asyncpg"
    assert asyncio.run(ask(engine)) == (None, u.database)
    # the directory is the one asked for, not a default asyncpg would try anyway
    with pytest.raises(OperationalError, match="connection"):
        asyncio.run(ask(engine_on("/nonexistent-socket-directory")))
