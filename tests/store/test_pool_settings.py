"""Connection settings for multi-host PostgreSQL deployments (issue 23): pool sizes from the
environment, PgBouncer transaction-mode compatibility (no server-side prepared statements),
and the jobs' leader lock on a direct connection when one is given."""

from __future__ import annotations

import pytest

from raad.store.db import make_engine


@pytest.fixture
def pg_url(database):
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL settings")
    return database.url


def test_pgbouncer_mode_turns_prepared_statements_off(pg_url, monkeypatch):
    monkeypatch.setenv("RAAD_DB_POOL_SIZE", "3")
    monkeypatch.setenv("RAAD_PGBOUNCER", "1")
    engine = make_engine(pg_url)
    try:
        assert engine.pool.size() == 3
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold is None
    finally:
        engine.dispose()
    monkeypatch.delenv("RAAD_PGBOUNCER")
    plain = make_engine(pg_url)
    try:
        with plain.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold == 5  # psycopg's default
    finally:
        plain.dispose()


def test_a_bad_pool_size_is_named(pg_url, monkeypatch):
    monkeypatch.setenv("RAAD_DB_POOL_SIZE", "ten")
    with pytest.raises(ValueError, match="RAAD_DB_POOL_SIZE"):
        make_engine(pg_url)


def test_the_leader_lock_uses_the_direct_connection(pg_url, database, monkeypatch):
    from raad.services import jobs

    monkeypatch.setenv("RAAD_DATABASE_DIRECT_URL", pg_url)
    leader, other = jobs.Leader(database), jobs.Leader(database)
    try:
        assert leader.acquire()
        assert leader._engine is not None and str(leader._engine.url) == str(
            make_engine(pg_url).url
        )
        assert not other.acquire()  # the lock is the same server-side lock
    finally:
        leader.release()
        other.release()


def test_reads_are_read_only_and_send_no_begin(pg_url):
    """A read transaction on PostgreSQL: read-only for the server (a write is refused, not
    committed) and in autocommit (each statement its own transaction: no BEGIN/COMMIT round
    trips), on the thread-pool engines and on the event loop's."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.util import greenlet_spawn

    from raad.store import Database
    from raad.store.db import on_event_loop

    db = Database(pg_url)

    def check() -> None:
        with db.transaction(write=False) as s:
            assert s.execute(text("SHOW transaction_read_only")).scalar() == "on"
            first = s.execute(text("SELECT now()")).scalar()
            s.execute(text("SELECT pg_sleep(0.01)"))
            # now() is the transaction's start: it moved, so each statement was its own
            assert s.execute(text("SELECT now()")).scalar() > first
        with pytest.raises(DBAPIError, match="read-only transaction"):  # noqa: SIM117
            with db.core_transaction(write=False) as c:
                c.execute(text("CREATE TEMP TABLE refused (x int)"))
        with db.transaction() as s:  # writes keep one transaction
            assert s.execute(text("SHOW transaction_read_only")).scalar() == "off"
            first = s.execute(text("SELECT now()")).scalar()
            s.execute(text("SELECT pg_sleep(0.01)"))
            assert s.execute(text("SELECT now()")).scalar() == first
        with db.transaction(write=False) as s:  # one snapshot, when asked for
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            first = s.execute(text("SELECT now()")).scalar()
            s.execute(text("SELECT pg_sleep(0.01)"))
            assert s.execute(text("SELECT now()")).scalar() == first
            assert s.execute(text("SHOW transaction_read_only")).scalar() == "on"

    def on_loop() -> None:
        with on_event_loop():
            check()

    try:
        check()
        asyncio.run(greenlet_spawn(on_loop))
    finally:
        db.dispose()


def test_through_pgbouncer_reads_use_the_writers_pool(pg_url, monkeypatch):
    from raad.store import Database

    monkeypatch.setenv("RAAD_PGBOUNCER", "1")
    db = Database(pg_url)
    try:
        assert db._read_engine is db.engine  # PgBouncer does not pass start-up options
    finally:
        db.dispose()


def test_a_worker_keeps_a_connection_for_each_request_in_flight(pg_url, monkeypatch):
    """With the default pool, 16 transactions at once on a worker's event loop (32 clients on
    2 workers, as bench/api_load.py runs) open 16 connections once and reuse them: a second
    burst opens none. With a pool of 10 (the default before) the 6 beyond it were closed when
    handed back and each burst opened them again: a server process and asyncpg's set-up per
    request beyond the pool."""
    import asyncio

    from sqlalchemy import event, text
    from sqlalchemy.util import greenlet_spawn

    from raad.store import Database
    from raad.store.db import on_event_loop

    monkeypatch.delenv("RAAD_DB_POOL_SIZE", raising=False)
    monkeypatch.delenv("RAAD_DB_MAX_OVERFLOW", raising=False)
    in_flight = 16

    def one() -> None:
        with on_event_loop(), db.core_transaction(write=False) as c:
            c.execute(text("SELECT pg_sleep(0.05)"))

    async def bursts(pool_size: int | None) -> list[int]:
        if pool_size is not None:
            monkeypatch.setenv("RAAD_DB_POOL_SIZE", str(pool_size))
        reads = db._loop()[1]  # this loop's read engine, made now with the settings above
        opened: list[int] = []
        event.listen(reads, "connect", lambda *_: opened.append(1))
        counts = []
        for _ in range(2):
            before = len(opened)
            await asyncio.gather(*(greenlet_spawn(one) for _ in range(in_flight)))
            counts.append(len(opened) - before)
        return counts

    db = Database(pg_url)
    try:
        assert asyncio.run(bursts(None)) == [in_flight, 0]
    finally:
        db.dispose()
    db = Database(pg_url)
    try:  # the old default, for contrast: the connections beyond the pool open every time
        assert asyncio.run(bursts(10)) == [in_flight, in_flight - 10]
    finally:
        db.dispose()
