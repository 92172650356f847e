"""Rate limits per client address, counted in the database (``rate_events``) so that every
worker process and every application host behind a proxy counts together.

- Login attempts: at most ``RAAD_LOGIN_PER_MINUTE`` (default 20) in any 60 seconds, then 429
  until the window has room (NIST SP 800-63B 5.2.2 asks verifiers to limit failed attempts;
  the per-account lock-out limits guesses at one account, this limits one client guessing
  across many).
- Self-report links that did not open (unknown, used, expired or withdrawn): at most
  ``RAAD_LINK_FAILURES_PER_MINUTE`` (default 30) per client in any 60 seconds.

Each check runs in a short write transaction of its own; on PostgreSQL a transaction-scoped
advisory lock per (kind, client) makes check-and-count atomic across hosts, so concurrent
attempts cannot all slip under the limit. Behind a reverse proxy the client address is the
one the proxy forwards (``raad serve --proxy-headers``).
"""

from __future__ import annotations

import os
import zlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text

from raad.store import Database
from raad.store.models import RateEvent, utcnow

LIMIT = int(os.environ.get("RAAD_LOGIN_PER_MINUTE", "20"))
WINDOW_S = 60.0
MESSAGE = "too many login attempts from this address: wait a minute and try again"
_LOCK_BASE = 0x72617465  # "rate": advisory lock keys are this plus a hash of kind and client


def _lock(conn, kind: str, client: str) -> None:
    if conn.dialect.name == "postgresql":
        key = _LOCK_BASE << 32 | zlib.crc32(f"{kind}\0{client}".encode())  # < 2**63
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _recent(conn, kind: str, client: str, now: datetime) -> int:
    since = now - timedelta(seconds=WINDOW_S)
    conn.execute(
        delete(RateEvent).where(
            RateEvent.kind == kind, RateEvent.client == client, RateEvent.at <= since
        )
    )
    return conn.execute(
        select(func.count())
        .select_from(RateEvent)
        .where(RateEvent.kind == kind, RateEvent.client == client)
    ).scalar_one()


def hit(
    database: Database, kind: str, client: str | None, limit: int, now: datetime | None = None
) -> bool:
    """Count an event of ``kind`` from ``client`` if it is under ``limit`` in the window;
    False (not counted) when the window is full. No client address: always True."""
    if client is None:
        return True
    at = now or utcnow()
    with database.core_transaction(write=True) as conn:
        _lock(conn, kind, client)
        if _recent(conn, kind, client, at) >= limit:
            return False
        conn.execute(RateEvent.__table__.insert().values(kind=kind, client=client[:64], at=at))
        return True


def allow(database: Database, client: str | None, now: datetime | None = None) -> bool:
    """Count a login attempt from ``client``; False when it is over the limit."""
    return hit(database, "login", client, LIMIT, now)


class Window:
    """Events of one kind per client address in any 60 seconds, with their own limit; unlike
    :func:`allow`, ``blocked`` and ``count`` are separate (a link that opens is not counted)."""

    def __init__(self, kind: str, limit: int) -> None:
        self.kind, self.limit = kind, limit

    def blocked(self, database: Database, client: str | None, now: datetime | None = None) -> bool:
        """Whether ``client`` has used up the window."""
        if client is None:
            return False
        with database.core_transaction(write=True) as conn:
            return _recent(conn, self.kind, client, now or utcnow()) >= self.limit

    def count(self, database: Database, client: str | None, now: datetime | None = None) -> None:
        if client is None:
            return
        with database.core_transaction(write=True) as conn:
            conn.execute(
                RateEvent.__table__.insert().values(
                    kind=self.kind, client=client[:64], at=now or utcnow()
                )
            )


# self-report links that did not open (unknown, used, expired or withdrawn) per client
LINK_FAILURES = Window("link-failure", int(os.environ.get("RAAD_LINK_FAILURES_PER_MINUTE", "30")))
