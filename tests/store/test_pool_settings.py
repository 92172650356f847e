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
