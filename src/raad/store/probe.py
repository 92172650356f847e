"""Whether the database takes writes now (used by ``/health`` and at start)."""

from __future__ import annotations

from sqlalchemy import text

from .db import Database


def write_problem(db: Database) -> str | None:
    """None when a write that changes nothing goes through (it takes the write lock); else why
    not: read-only file or server, a PostgreSQL standby, locked past the busy timeout, or what
    the database said."""
    try:
        with db.transaction(write=True) as s:
            if db.dialect == "postgresql":
                standby = s.execute(text("SELECT pg_is_in_recovery()")).scalar()
                ro = s.execute(text("SHOW transaction_read_only")).scalar()
                if standby or ro == "on":
                    return "database not writable (read-only or a standby)"
            s.execute(text("UPDATE alembic_version SET version_num = version_num"))
    except Exception as exc:  # what the database says is the reason shown
        return f"database not writable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None
