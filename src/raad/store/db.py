"""Engine and sessions.

``RAAD_DATABASE_URL`` chooses the database: SQLite (the default, a file ``raad.db`` in the
working directory) or PostgreSQL through psycopg 3 (``postgresql+psycopg://...``). SQLite runs in
WAL mode with foreign keys enforced; with ``synchronous=NORMAL`` a committed transaction survives
the process being killed (only a power loss can drop the last commits), see
https://www.sqlite.org/wal.html and https://www.sqlite.org/pragma.html#pragma_synchronous.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///raad.db"


def database_url() -> str:
    """The configured database URL (``RAAD_DATABASE_URL``), SQLite ``raad.db`` if unset."""
    return os.environ.get("RAAD_DATABASE_URL", DEFAULT_URL)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - exercised via engine
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with raad's settings for its dialect."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=8,
            max_overflow=8,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE takes the write
        # lock up front and concurrent writers queue instead of failing on upgrade
        event.listen(engine, "connect", _no_driver_transactions)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    if u.get_backend_name() == "postgresql":
        return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)
    raise ValueError(
        f"RAAD_DATABASE_URL: got {url!r}; allowed: sqlite:///PATH or postgresql+psycopg://..."
    )


def _no_driver_transactions(dbapi_conn, _record) -> None:  # pragma: no cover
    dbapi_conn.isolation_level = None


def _begin_immediate(conn) -> None:  # pragma: no cover
    write = conn.get_execution_options().get("raad_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """An engine and its session factory; ``transaction()`` commits or rolls back as a whole."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(raad_write=True), expire_on_commit=False
        )
        self._write_lock = threading.RLock() if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises.

        On SQLite a writing transaction takes the write lock at BEGIN (``BEGIN IMMEDIATE``) so
        that concurrent writers wait for each other instead of failing mid-transaction.
        """
        factory = self._writer if write else self.sessions
        if write and self._write_lock is not None:
            # SQLite has one writer at a time; queueing writers here (FIFO-ish, no sleeping)
            # instead of in SQLite's busy handler, which polls with growing sleeps, removes the
            # long latency tails under concurrent writes
            with self._write_lock, factory() as s, s.begin():
                yield s
            return
        with factory() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()
