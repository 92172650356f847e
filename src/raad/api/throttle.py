"""Login attempts per client address: at most ``RAAD_LOGIN_PER_MINUTE`` (default 20) in any
60 seconds, then 429 until the window has room (NIST SP 800-63B 5.2.2 asks verifiers to limit
failed attempts; the per-account lock-out limits guesses at one account, this limits one client
guessing across many). Counted in memory, per worker process: with ``--workers N`` a client gets
up to N times the limit."""

from __future__ import annotations

import os
import threading
import time
from collections import deque

LIMIT = int(os.environ.get("RAAD_LOGIN_PER_MINUTE", "20"))
WINDOW_S = 60.0
MESSAGE = "too many login attempts from this address: wait a minute and try again"
_seen: dict[str, deque[float]] = {}
_lock = threading.Lock()


def allow(client: str | None, now: float | None = None) -> bool:
    """Count an attempt from ``client``; False when it is over the limit (not counted then)."""
    if client is None:
        return True
    now = time.monotonic() if now is None else now
    with _lock:
        attempts = _seen.setdefault(client, deque())
        while attempts and attempts[0] <= now - WINDOW_S:
            attempts.popleft()
        if len(attempts) >= LIMIT:
            return False
        attempts.append(now)
        if len(_seen) > 10_000:  # forget idle clients so memory stays bounded
            for key in [k for k, v in _seen.items() if not v or v[-1] <= now - WINDOW_S]:
                del _seen[key]
        return True


def reset() -> None:
    """Forget every count (tests)."""
    with _lock:
        _seen.clear()


class Window:
    """Events per client address in any 60 seconds, with their own limit (e.g. self-report
    links that failed to open: a client guessing tokens is stopped long before it could find
    one, though 256-bit tokens make that hopeless anyway). In memory, per worker process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        events = self._seen.setdefault(client, deque())
        while events and events[0] <= now - WINDOW_S:
            events.popleft()
        return events

    def blocked(self, client: str | None, now: float | None = None) -> bool:
        """Whether ``client`` has used up the window."""
        if client is None:
            return False
        now = time.monotonic() if now is None else now
        with self._lock:
            return len(self._recent(client, now)) >= self.limit

    def count(self, client: str | None, now: float | None = None) -> None:
        if client is None:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._seen) > 10_000:
                for key in [k for k, v in self._seen.items() if not v or v[-1] <= now - WINDOW_S]:
                    del self._seen[key]


# self-report links that did not open (unknown, used, expired or withdrawn) per client
LINK_FAILURES = Window(int(os.environ.get("RAAD_LINK_FAILURES_PER_MINUTE", "30")))
