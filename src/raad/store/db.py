"""Engine and sessions.

``RAAD_DATABASE_URL`` chooses the database: SQLite (the default, a file ``raad.db`` in the
working directory) or PostgreSQL through psycopg 3 (``postgresql+psycopg://...``). SQLite runs in
WAL mode with foreign keys enforced; with ``synchronous=NORMAL`` a committed transaction survives
the process being killed (only a power loss can drop the last commits), see
https://www.sqlite.org/wal.html and https://www.sqlite.org/pragma.html#pragma_synchronous.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
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
        self._write_engine = self.engine.execution_options(raad_write=True)
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)
        self._write_lock = threading.RLock() if self.dialect == "sqlite" else None
        u = make_url(self.url)
        self._lock_path = (
            f"{u.database}.writer-lock"
            if self.dialect == "sqlite" and u.database and u.database != ":memory:"
            else None
        )
        self._lock_fd: int | None = None
        self._lock_pid: int | None = None

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
            with self._write_lock, self._process_lock(), factory() as s, s.begin():
                yield s
            return
        with factory() as s, s.begin():
            yield s

    @contextmanager
    def core_transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """:meth:`transaction` on a bare ``Connection``, for services that run only Core
        statements (no ORM session to set up and tear down); the same locks on SQLite."""
        engine = self._write_engine if write else self.engine
        if write and self._write_lock is not None:
            with self._write_lock, self._process_lock(), engine.begin() as conn:
                yield conn
            return
        with engine.begin() as conn:
            yield conn

    @contextmanager
    def _process_lock(self) -> Iterator[None]:
        """Writers in other processes on the same SQLite file queue here, in the kernel: a
        waiter wakes as soon as the lock is released, where SQLite's busy handler would sleep
        1, 2, 5, 10 ... ms between tries (and latecomers overtake it). SQLite's own locking still
        guarantees correctness; this only orders the waiting."""
        if self._lock_path is None:
            yield
            return
        if self._lock_fd is None or self._lock_pid != os.getpid():  # opened once per process
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lock_fd is not None and self._lock_pid == os.getpid():
            os.close(self._lock_fd)
        self._lock_fd = None
