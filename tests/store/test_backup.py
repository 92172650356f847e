"""Backups taken while writes go on, restored and checked, on SQLite and PostgreSQL; a restore
refused while raad serves the database; every token revoked after a restore (issue 17)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from raad.cli import app as cli
from raad.services import auth
from raad.services.maintenance import after_restore
from raad.store.backup import BackupError, backup, restore, serving, serving_marker
from raad.store.migrate import upgrade
from raad.store.models import AuditEvent, AuthToken, Site
from tests.dbfixtures import PASSWORD


def _sites(db) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(Site))


def test_backup_during_a_write_burst_restores_to_a_consistent_state(empty_database, tmp_path):
    db = empty_database
    upgrade(db)
    with db.transaction() as s:
        user = auth.create_user(s, "backup.admin", PASSWORD, "admin")
        token = auth.issue_token(s, user).token
    stop, started = threading.Event(), threading.Event()

    def burst() -> None:
        n = 0
        while not stop.is_set():
            with db.transaction() as s:
                auth.get_or_create_site(s, f"B{n}")
            n += 1
            if n == 20:
                started.set()

    writer = threading.Thread(target=burst)
    writer.start()
    assert started.wait(30)  # the backup is taken in the middle of the burst
    try:
        out = backup(db, tmp_path / "raad.backup")
    finally:
        stop.set()
        writer.join()
    after_burst = _sites(db)
    with pytest.raises(BackupError, match="exists"):
        backup(db, out)  # never overwritten
    restore(db, out)
    restored = _sites(db)
    assert 0 < restored <= after_burst  # the snapshot, whole: the burst's sites up to then
    with db.transaction(write=False) as s:
        names = set(s.scalars(select(Site.code)))
    assert names == {f"B{i}" for i in range(restored)}  # no gap: a consistent snapshot
    # the token issued before the backup is in it, and still valid until after_restore runs
    with db.transaction(write=False) as s:
        assert auth.resolve_token(s, token, "bearer").username == "backup.admin"
    assert after_restore(db, out) >= 1
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).where(AuthToken.revoked.is_(False))) == 0
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert last.action == "restore" and "raad.backup" in last.detail


def test_restore_is_refused_while_serving(empty_database, tmp_path):
    db = empty_database
    upgrade(db)
    out = backup(db, tmp_path / "b.backup")
    if db.dialect == "sqlite":
        with serving_marker(db):
            assert serving(db)
            with pytest.raises(BackupError, match="serving"):
                restore(db, out)
    else:
        import os

        from raad.store import Database

        os.environ["RAAD_APPLICATION_NAME"] = "raad-serve"
        try:
            server = Database(db.url)
        finally:
            del os.environ["RAAD_APPLICATION_NAME"]
        with server.engine.connect():
            assert serving(db)
            with pytest.raises(BackupError, match="serving"):
                restore(db, out)
        server.dispose()
        import time

        deadline = time.monotonic() + 10  # a closed backend leaves pg_stat_activity shortly after
        while serving(db) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not serving(db)
    restore(db, out)


def test_cli_backup_and_restore(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner()
    assert run.invoke(cli, ["db", "upgrade", "--url", url]).exit_code == 0
    target = tmp_path / "cli.backup"
    r = run.invoke(cli, ["db", "backup", str(target), "--url", url])
    assert r.exit_code == 0 and target.exists(), r.output
    r = run.invoke(cli, ["db", "restore", str(target), "--url", url, "--yes"])
    assert r.exit_code == 0 and "revoked" in r.output, r.output
    bad = tmp_path / "not-a-backup"
    bad.write_text("hello")
    r = run.invoke(cli, ["db", "restore", str(bad), "--url", url, "--yes"])
    assert r.exit_code == 2 and "not a SQLite backup" in r.output


def test_a_sqlite_file_that_is_not_a_backup_leaves_the_database_alone(tmp_path):
    import sqlite3

    from raad.store import Database

    db = Database(f"sqlite:///{tmp_path / 'live.db'}")
    upgrade(db)
    with db.transaction() as s:
        auth.get_or_create_site(s, "KEEP")
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(BackupError, match="not a raad backup"):
        restore(db, other)
    with db.transaction(write=False) as s:
        assert s.scalar(select(Site.code)) == "KEEP"
