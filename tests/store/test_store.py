"""The schema, its migrations and the database-level guarantees, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError

from raad.store.migrate import current_revision, head_revision
from raad.store.models import AuditEvent, Base, Site


def test_migrations_reach_head_and_match_the_models(database):
    assert current_revision(database) == head_revision(database) is not None
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_audit_rows_cannot_be_changed_or_deleted(database):
    from raad.services import audit

    with database.transaction() as s:  # through the chain, so later chain checks still hold
        audit.record(s, None, "create", "test", detail="immutable")
    for statement in (
        "UPDATE audit_events SET detail = 'changed' WHERE detail = 'immutable'",
        "DELETE FROM audit_events WHERE detail = 'immutable'",
    ):
        with pytest.raises(DBAPIError, match="append-only"), database.transaction() as s:
            s.execute(text(statement))
    with database.transaction(write=False) as s:
        n = s.execute(text("SELECT count(*) FROM audit_events WHERE detail = 'immutable'")).scalar()
    assert n >= 1


def test_sqlite_runs_in_wal_mode_with_foreign_keys(database):
    if database.dialect != "sqlite":
        pytest.skip("SQLite pragmas")
    with database.transaction(write=False) as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with pytest.raises(DBAPIError), database.transaction() as s:
        s.execute(
            text(
                "INSERT INTO users (username, password_hash, role, site_id, active, failed_logins, created_at) VALUES ('fk', 'x', 'clinician', 999999, 1, 0, '2026-01-01')"
            )
        )


def test_a_failed_transaction_writes_nothing(database):
    code = "ROLLBACK-TEST"
    with pytest.raises(RuntimeError), database.transaction() as s:
        s.add(Site(code=code, name="x"))
        s.flush()
        raise RuntimeError("boom")
    with database.transaction(write=False) as s:
        assert s.query(Site).filter_by(code=code).count() == 0


def test_naive_datetimes_are_refused(database):
    with pytest.raises(StatementError, match="naive datetime"), database.transaction() as s:
        s.add(AuditEvent(action="x", entity="y", at=datetime(2026, 1, 1)))
        s.flush()
