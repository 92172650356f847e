"""Scheduled work: self-report links made as they fall due, reminders, the outbox sent, and
research exports left behind by another host run.

``run_once`` does one round; ``Leader`` makes sure one process does it at a time across every
process using the database (a PostgreSQL session advisory lock held on its own connection; on
SQLite an exclusive ``flock`` on a file beside the database); ``start`` runs rounds every
``interval`` seconds in a background scheduler (APScheduler) inside ``raad serve``, each round
only while this process is the leader. ``raad jobs run`` does one round, for cron.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from raad.store import Database
from raad.store.models import utcnow

from . import bulk_export, outbox, schedules

log = logging.getLogger("raad.jobs")
LOCK_KEY = 0x7261616A  # "raaj": the jobs' advisory lock (the audit chain uses its own key)


class Leader:
    """Whether this process runs the jobs now. ``acquire()`` is non-blocking and idempotent;
    the lock is released by ``release()`` or when the process dies (the connection closes, the
    file lock goes with the process)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._conn: Any = None
        self._file: Any = None
        self._engine: Any = None

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.database.dialect == "postgresql":
            conn = self._direct().connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            conn.commit()
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        path = _lock_path(self.database)
        f = open(path, "a+")  # noqa: SIM115 - held open while leading
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def _direct(self) -> Any:
        """The engine the lock is taken on: ``RAAD_DATABASE_DIRECT_URL`` when set (behind
        PgBouncer in transaction mode a session lock needs a connection of its own to the
        server), else the database's own engine."""
        direct = os.environ.get("RAAD_DATABASE_DIRECT_URL")
        if not direct:
            return self.database.engine
        if self._engine is None:
            from sqlalchemy import create_engine

            self._engine = create_engine(direct, pool_size=1, max_overflow=0)
        return self._engine

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                self._conn.commit()
            self._conn.close()
            self._conn = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _lock_path(database: Database) -> Path:
    name = database.engine.url.database
    if not name or name == ":memory:":
        return Path(os.environ.get("TMPDIR", "/tmp")) / "raad-jobs.lock"
    return Path(name).with_suffix(Path(name).suffix + ".jobs.lock")


def run_once(
    database: Database,
    senders: dict[str, Any],
    base_url: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One round: make due links (with their invitations), queue reminders, recover messages
    left mid-send, deliver what is due. Returns what each step did."""
    at = now or utcnow()
    channels = frozenset(senders)  # no message is queued for a channel nothing can send
    with database.transaction() as s:
        made = schedules.materialize(s, at, base_url, channels)
    with database.transaction() as s:
        reminded = schedules.remind(s, at, base_url, channels)
    with database.transaction() as s:
        recovered = outbox.recover(s, at, senders)
    delivered = {"sent": 0, "retry": 0, "failed": 0}
    while True:
        batch = outbox.deliver(database.transaction, senders, lambda: now or utcnow())
        for k, v in batch.items():
            delivered[k] += v
        if sum(batch.values()) == 0 or batch["sent"] == 0:
            break
    # research exports a host left behind (accepted but never started, or whose process died)
    exports = len(bulk_export.resume(database))
    return {
        "links_made": made,
        "reminders": reminded,
        **recovered,
        **delivered,
        "bulk_exports_resumed": exports,
    }


def start(database: Database, senders: dict[str, Any], base_url: str | None, interval: int = 60):
    """Run ``run_once`` every ``interval`` seconds in a background thread while this process
    holds the leader lock; returns the scheduler (call ``shutdown()`` to stop)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    leader = Leader(database)

    def tick() -> None:
        if not leader.acquire():
            return
        try:
            done = run_once(database, senders, base_url)
            if any(done.values()):
                log.info("jobs: %s", done)
        except Exception:  # a failed round is logged; the next one tries again
            log.exception("jobs: the round failed")

    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(tick, "interval", seconds=interval, max_instances=1, coalesce=True)
    scheduler.start()
    scheduler.raad_leader = leader  # type: ignore[attr-defined]
    return scheduler
