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
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///raad.db"
FLOCK_POLL_S = 0.00005  # between tries of a writer that waits for the file lock with a timeout


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
        return create_engine(url, **pg_engine_options())
    raise ValueError(
        f"RAAD_DATABASE_URL: got {url!r}; allowed: sqlite:///PATH or postgresql+psycopg://..."
    )


# A pool keeps POOL_SIZE connections once opened and closes any of its MAX_OVERFLOW more when
# they are handed back. A worker serves all its requests in flight from one event loop, so its
# pool must keep about as many connections as it has requests in flight: with fewer, every
# request beyond the pool opens a connection and closes it afterwards (a new server process
# each time, and asyncpg's type set-up), which cost about a tenth of the throughput at 16
# requests in flight per worker with a pool of 10 (docs/benchmarks.md).
POOL_SIZE = 20
MAX_OVERFLOW = 10


def pg_bouncer() -> bool:
    """Whether PostgreSQL is reached through PgBouncer in transaction mode (``RAAD_PGBOUNCER``)."""
    return os.environ.get("RAAD_PGBOUNCER", "").lower() in ("1", "true", "yes")


def pg_engine_options(*, reads: bool = False) -> dict[str, Any]:
    """raad's PostgreSQL engine settings (the thread-pool engines and the event-loop ones).

    ``reads``: the pool of read-only transactions. Its connections are read-only for the
    server (``default_transaction_read_only``, set at connection start: a write there fails)
    and in autocommit, so a read sends no ``BEGIN`` and no ``COMMIT``. At READ COMMITTED, the
    isolation raad uses, each statement of a transaction reads its own snapshot anyway, so
    a read transaction sees the same as one statement at a time; a block that needs one
    snapshot for many statements asks for REPEATABLE READ on its connection, which opens a
    transaction again (the bulk export does)."""
    # ``raad serve`` names its connections so a restore can see it is running
    name = os.environ.get("RAAD_APPLICATION_NAME", "raad")
    connect_args: dict[str, Any] = {"application_name": name}
    bouncer = pg_bouncer()
    if bouncer:
        # PgBouncer in transaction mode hands each transaction any server connection:
        # psycopg's server-side prepared statements would not be found there
        connect_args["prepare_threshold"] = None
    options: dict[str, Any] = {}
    if reads:
        connect_args["options"] = "-c default_transaction_read_only=on"
        options["isolation_level"] = "AUTOCOMMIT"
    return {
        "pool_size": _env_int("RAAD_DB_POOL_SIZE", POOL_SIZE),
        "max_overflow": _env_int("RAAD_DB_MAX_OVERFLOW", MAX_OVERFLOW),
        "pool_recycle": 1800,
        "pool_pre_ping": bouncer,
        "connect_args": connect_args,
        **options,
    }


# libpq settings in the URL's query and how asyncpg takes them (any other keeps psycopg);
# ``host`` may name a Unix socket's directory (a server on the same machine)
_ASYNCPG_PARAMS = {"sslmode": "ssl", "connect_timeout": "timeout", "host": "host", "port": "port"}


def _asyncpg_reads_alike(u: Any) -> bool:
    """Whether asyncpg reads the URL's query as libpq does: only the settings above, and
    ``host``/``port`` only as one value standing in for an empty host/port in the URL (libpq's
    lists of hosts fail over differently in asyncpg)."""
    if set(u.query) - set(_ASYNCPG_PARAMS):
        return False
    host, port = u.query.get("host"), u.query.get("port")
    if host is not None and (not isinstance(host, str) or "," in host or u.host):
        return False
    return port is None or (isinstance(port, str) and port.isdigit() and not u.port)


def pg_loop_engine(url: str, *, reads: bool = False) -> Any:
    """The event loop's PostgreSQL engine (SQLAlchemy's asyncio extension).

    Through asyncpg, whose statements cost about a third less CPU than psycopg's async
    connections (``docs/benchmarks.md``), with the settings of :func:`pg_engine_options`
    (application name, pool, the read-only pool). psycopg's async connections are used instead
    when ``RAAD_PG_ASYNC_DRIVER=psycopg``, through PgBouncer (``RAAD_PGBOUNCER``: asyncpg's
    prepared statements do not survive transaction pooling) and when the URL's query holds a
    libpq setting other than ``sslmode``, ``connect_timeout``, or one ``host`` (a name, or the
    directory of a Unix socket) and ``port``, which asyncpg may read differently."""
    from sqlalchemy.ext.asyncio import create_async_engine

    options = pg_engine_options(reads=reads)
    u = make_url(url)
    driver = os.environ.get("RAAD_PG_ASYNC_DRIVER", "asyncpg").lower()
    if driver not in ("asyncpg", "psycopg"):
        raise ValueError(f"RAAD_PG_ASYNC_DRIVER: got {driver!r}; allowed: asyncpg, psycopg")
    if driver == "psycopg" or pg_bouncer() or not _asyncpg_reads_alike(u):
        return create_async_engine(url, **options)
    libpq = options.pop("connect_args")
    settings = {"application_name": libpq["application_name"]}
    if reads:
        settings["default_transaction_read_only"] = "on"
    connect_args: dict[str, Any] = {"server_settings": settings}
    for name, value in u.query.items():
        value = value if isinstance(value, str) else value[-1]
        convert = {"connect_timeout": float, "port": int}.get(name, str)
        connect_args[_ASYNCPG_PARAMS[name]] = convert(value)
    target = u.set(drivername="postgresql+asyncpg", query={})
    return create_async_engine(
        target, async_creator=_asyncpg_connector(target, connect_args), **options
    )


def _asyncpg_connector(target: Any, connect_args: dict[str, Any]) -> Callable[[], Any]:
    """asyncpg's ``connect`` for SQLAlchemy's pool, with a failure to connect (refused, timed
    out, the server starting or shutting down) raised as the driver's ``OperationalError``,
    as psycopg does, so the API answers 503 (``api/app.py``) and not 500."""

    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

    params = {**target.translate_connect_args(username="user"), **connect_args}
    failed = AsyncAdapt_asyncpg_dbapi.OperationalError

    async def connect() -> Any:
        try:
            return await asyncpg.connect(**params)
        except ConnectionRefusedError as exc:
            raise failed(f"connection refused: {exc}") from exc
        except (TimeoutError, OSError) as exc:
            raise failed(f"connection to the server failed: {exc!r}") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise failed(str(exc)) from exc

    return connect


_ON_LOOP: ContextVar[bool] = ContextVar("raad_on_event_loop", default=False)


@contextmanager
def on_event_loop() -> Iterator[None]:
    """Within this block (entered inside SQLAlchemy's ``greenlet_spawn``), PostgreSQL
    transactions use the event loop's connections (asyncpg): each network wait yields to the loop
    instead of holding a thread (see :meth:`Database.loop_ready`)."""
    token = _ON_LOOP.set(True)
    try:
        yield
    finally:
        _ON_LOOP.reset(token)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ValueError(f"{name}: got {raw!r}; allowed: a whole number of connections")
    return int(raw)


def _read_only(dbapi_conn, _record) -> None:
    """Every transaction on this connection is read-only (PostgreSQL:
    ``default_transaction_read_only``; SQLite: ``PRAGMA query_only``)."""
    cur = dbapi_conn.cursor()
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        cur.execute("PRAGMA query_only = ON")
    else:
        cur.execute("SET default_transaction_read_only = on")
        dbapi_conn.commit()
    cur.close()


def _no_driver_transactions(dbapi_conn, _record) -> None:  # pragma: no cover
    dbapi_conn.isolation_level = None


def _begin_immediate(conn) -> None:  # pragma: no cover
    write = conn.get_execution_options().get("raad_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _flock(fd: int, deadline: float | None) -> bool:
    """Exclusive ``flock``: wait in the kernel, or until ``deadline`` (monotonic) by trying
    every ``FLOCK_POLL_S`` (``flock`` itself has no timeout)."""
    if deadline is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(FLOCK_POLL_S)


class Database:
    """An engine and its session factory; ``transaction()`` commits or rolls back as a whole."""

    def __init__(self, url: str | None = None, read_url: str | None = None) -> None:
        """``read_url`` (default ``RAAD_DATABASE_READ_URL``, none if unset): a read-only
        connection (a streaming replica on PostgreSQL) for the reads that may lag a little and
        should not compete with clinical writes: research exports and cohort views
        (``transaction(write=False, replica=True)``). Its sessions are read-only whatever the
        URL points at: a write there is refused by the database."""
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_url = read_url or os.environ.get("RAAD_DATABASE_READ_URL") or None
        self.replica_engine: Engine | None = None
        self._replica = None
        if self.read_url:
            self.replica_engine = make_engine(self.read_url)
            event.listen(self.replica_engine, "connect", _read_only)
            self._replica = sessionmaker(self.replica_engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(raad_write=True)
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)
        # reads: on PostgreSQL a pool of their own, read-only and without BEGIN/COMMIT (not
        # through PgBouncer, which does not pass the connection's start-up options)
        self._read_engine = self.engine
        self._reader = self.sessions
        if self.dialect == "postgresql" and not pg_bouncer():
            self._read_engine = create_engine(self.url, **pg_engine_options(reads=True))
            self._reader = sessionmaker(self._read_engine, expire_on_commit=False)
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        u = make_url(self.url)
        self._lock_path = (
            f"{u.database}.writer-lock"
            if self.dialect == "sqlite" and u.database and u.database != ":memory:"
            else None
        )
        self._lock_fd: int | None = None
        self._lock_pid: int | None = None
        self._writer_thread: int | None = None  # thread holding the writer gate
        self._writer_depth = 0
        # the event loops' engines, made on first use on each loop (see _loop)
        self._loop_parts: weakref.WeakKeyDictionary[Any, tuple[Any, ...]] = (
            weakref.WeakKeyDictionary()
        )

    @staticmethod
    def _dispose_loop_engines(loop: Any, aengines: Any) -> None:
        """Close an event loop's engines' connections on that loop when it can still run (not
        running, not closed: as after a test client's loop ends); otherwise drop them and the
        server closes them when this process ends. asyncpg's connections belong to the loop
        that opened them and are never used from another."""
        for aengine in set(aengines):
            if not loop.is_closed() and not loop.is_running():
                try:
                    loop.run_until_complete(aengine.dispose())
                    continue
                except Exception:  # a connection already broken
                    pass
            aengine.sync_engine.dispose(close=False)

    @property
    def loop_ready(self) -> bool:
        """Whether transactions can run on the event loop (PostgreSQL, see
        :func:`pg_loop_engine`; turned off with ``RAAD_PG_THREADS=1``, which keeps every
        transaction in the thread pool)."""
        return self.dialect == "postgresql" and os.environ.get("RAAD_PG_THREADS", "") != "1"

    def _loop(self) -> tuple[Any, ...]:
        """The running event loop's engines (:func:`pg_loop_engine`, for writes and for reads)
        as synchronous facades, with their session factories: one set per event loop (a
        server's worker has one; tests open many), since asyncpg's connections are tied to the
        loop that opened them."""
        import asyncio

        loop = asyncio.get_running_loop()
        parts = self._loop_parts.get(loop)
        if parts is None:
            aengine = pg_loop_engine(self.url)
            writes = aengine.sync_engine.execution_options(raad_write=True)
            areads = aengine
            if not pg_bouncer():
                areads = pg_loop_engine(self.url, reads=True)
            reads = areads.sync_engine
            parts = (
                (aengine, areads),
                reads,
                sessionmaker(reads, expire_on_commit=False),
                sessionmaker(writes, expire_on_commit=False),
                writes,
            )
            self._loop_parts[loop] = parts
        return parts

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, *, write: bool = True, replica: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises. With
        ``replica`` (reads only) on the read-only connection when one is configured.

        On SQLite a writing transaction first passes the writer gate (:meth:`acquire_writer`)
        and takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``), so concurrent writers wait
        for each other instead of failing mid-transaction.
        """
        factory = self._writer if write else self._reader
        if replica and not write and self._replica is not None:
            factory = self._replica
        elif _ON_LOOP.get() and self.loop_ready:
            factory = self._loop()[3 if write else 2]
        with self._gate(write), factory() as s, s.begin():
            yield s

    @contextmanager
    def core_transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """:meth:`transaction` on a bare ``Connection``, for services that run only Core
        statements (no ORM session to set up and tear down); the same gate on SQLite."""
        engine = self._write_engine if write else self._read_engine
        if _ON_LOOP.get() and self.loop_ready:
            engine = self._loop()[4 if write else 1]
        with self._gate(write), engine.begin() as conn:
            yield conn

    @contextmanager
    def _gate(self, write: bool) -> Iterator[None]:
        if not write or self._write_lock is None:
            yield
            return
        self.acquire_writer()
        try:
            yield
        finally:
            self.release_writer()

    def acquire_writer(self, *, timeout: float | None = None) -> bool:
        """Pass SQLite's writer gate: writers of this process queue on a thread lock, then
        writers of every process on a kernel file lock (``flock`` on ``<database>.writer-lock``),
        where a waiter wakes as soon as the lock is released; SQLite's busy handler would sleep
        1, 2, 5, 10 ... ms between tries and let latecomers overtake. SQLite's own locking still
        guarantees correctness; the gate only orders the waiting. Re-entrant on one thread.
        With ``timeout`` (seconds), gives up and returns False when the gate stays taken that
        long. Always True on other dialects."""
        if self._write_lock is None:
            return True
        me = threading.get_ident()
        if self._writer_thread == me:
            self._writer_depth += 1
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._write_lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            fd = self._lock_file()
            if fd is not None and not _flock(fd, deadline):
                self._write_lock.release()
                return False
        except BaseException:
            self._write_lock.release()
            raise
        self._writer_thread, self._writer_depth = me, 1
        return True

    def release_writer(self) -> None:
        """Leave the gate taken by :meth:`acquire_writer` (the outermost release opens it)."""
        if self._write_lock is None:
            return
        self._writer_depth -= 1
        if self._writer_depth > 0:
            return
        self._writer_thread = None
        try:
            if self._lock_fd is not None and self._lock_pid == os.getpid():
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    def _lock_file(self) -> int | None:
        if self._lock_path is None:
            return None
        if self._lock_fd is None or self._lock_pid != os.getpid():  # opened once per process
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        return self._lock_fd

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_engine is not self.engine:
            self._read_engine.dispose()
        for loop, parts in list(self._loop_parts.items()):
            self._dispose_loop_engines(loop, parts[0])
        self._loop_parts.clear()
        if self.replica_engine is not None:
            self.replica_engine.dispose()
        if self._write_lock is None:
            return
        with self._write_lock:  # not while a writer of this process uses the lock file
            if self._lock_fd is not None and self._lock_pid == os.getpid():
                os.close(self._lock_fd)
            self._lock_fd = None
