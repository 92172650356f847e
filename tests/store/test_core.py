"""Core helpers: inserts with defaults, Core-only transactions, the writers' process lock."""

from __future__ import annotations

import multiprocessing
import secrets
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from raad.store import Database
from raad.store.core import Inserter, core_only, is_core_only, table
from raad.store.models import Site, SmartLaunch


def test_inserter_fills_defaults_and_returns_the_row(database):
    # a table with a callable default and no foreign keys (an audit row written around the
    # chain would break later chain checks on the shared database)
    ins = Inserter(SmartLaunch)
    state = secrets.token_hex(16)
    values = {
        "state_hash": state,
        "iss": "https://ehr.example/fhir",
        "code_verifier": "v",
        "nonce": "n",
        "token_endpoint": "https://ehr.example/token",
        "redirect_uri": "https://raad.example/smart/callback",
        "expires_at": datetime.now(UTC),
    }
    with database.core_transaction() as c:
        row = ins(c, **values)
    assert row.id is not None and row.created_at.tzinfo is not None
    with database.transaction(write=False) as s:
        stored = s.get(SmartLaunch, row.id)
        assert (stored.state_hash, stored.iss) == (state, "https://ehr.example/fhir")
        assert stored.created_at == row.created_at


def test_a_failed_core_transaction_writes_nothing(database):
    sites = table(Site)
    with pytest.raises(RuntimeError), database.core_transaction() as c:
        c.execute(sites.insert(), {"code": "CORE-RB", "name": "x"})
        raise RuntimeError("boom")
    with database.core_transaction(write=False) as c:
        n = c.scalar(select(func.count()).select_from(sites).where(sites.c.code == "CORE-RB"))
    assert n == 0


def test_core_only_marks_a_function():
    @core_only
    def f(db):
        return db

    assert is_core_only(f) and not is_core_only(lambda db: db)


def _hold_lock(url: str, started, seconds: float) -> None:
    db = Database(url)
    with db.transaction():
        started.set()
        time.sleep(seconds)
    db.dispose()


def test_writers_in_other_processes_wait_in_the_kernel_lock(tmp_path):
    url = f"sqlite:///{tmp_path / 'raad.db'}"
    from raad.store.migrate import upgrade

    db = Database(url)
    upgrade(db)
    ctx = multiprocessing.get_context("spawn")
    started = ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(url, started, 0.5))
    p.start()
    try:
        assert started.wait(60)
        t0 = time.monotonic()
        with db.transaction() as s:  # queued behind the other process's write, then succeeds
            s.add(Site(code="AFTER", name="after"))
        waited = time.monotonic() - t0
    finally:
        p.join(30)
    assert p.exitcode == 0
    assert waited > 0.2  # it really waited for the other writer
    with db.transaction(write=False) as s:
        assert s.scalar(select(Site.name).where(Site.code == "AFTER")) == "after"
    db.dispose()


def test_nested_writes_keep_the_gate_until_the_outermost_ends(database):
    import threading

    def other_thread_gets_it() -> bool:
        got: list[bool] = []

        def attempt() -> None:
            ok = database.acquire_writer(timeout=0.05)
            got.append(ok)
            if ok:
                database.release_writer()

        t = threading.Thread(target=attempt)
        t.start()
        t.join()
        return got[0]

    if database.dialect != "sqlite":
        assert other_thread_gets_it()  # no gate on PostgreSQL
        return
    with database.transaction():
        with database.core_transaction():
            pass
        assert not other_thread_gets_it()  # the inner end did not open the gate
    assert other_thread_gets_it()


def test_a_writer_gives_up_after_its_timeout_when_another_process_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'raad.db'}"
    from raad.store.migrate import upgrade

    db = Database(url)
    upgrade(db)
    ctx = multiprocessing.get_context("spawn")
    started = ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(url, started, 1.0))
    p.start()
    try:
        assert started.wait(60)
        t0 = time.monotonic()
        assert not db.acquire_writer(timeout=0.1)
        assert 0.09 < time.monotonic() - t0 < 0.5
    finally:
        p.join(30)
    assert db.acquire_writer(timeout=0.1)  # free again once the other process committed
    db.release_writer()
    db.dispose()
