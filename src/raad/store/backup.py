"""Backups of the registry database, and restoring one.

- SQLite: the online backup API of the ``sqlite3`` module copies a consistent snapshot while the
  service keeps writing (a plain copy of the file would miss what is still in the WAL file and
  can catch a half-written page). The copy is checked with ``PRAGMA integrity_check``.
- PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot in a single transaction);
  restored with ``pg_restore --clean --if-exists --single-transaction``.

Restoring refuses while raad serves the database: ``raad serve`` holds a shared lock on
``<database>.serving`` (SQLite) or connects with ``application_name`` ``raad-serve``
(PostgreSQL), and restore checks for them. What a restore means for the records (every token
revoked, an audit row) is ``services.maintenance.after_restore``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from .db import Database

SERVE_APPLICATION_NAME = "raad-serve"
# a file holding these is a raad database (checked before anything is replaced)
RAAD_TABLES = frozenset({"alembic_version", "audit_events", "patients", "users"})


class BackupError(RuntimeError):
    """A backup or restore that cannot be done, with the reason in words."""


def _sqlite_path(db: Database) -> Path:
    path = make_url(db.url).database
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(path)


def _pg_url(db: Database) -> str:
    """The URL as libpq reads it (no SQLAlchemy driver suffix)."""
    return make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)


def backup(db: Database, target: Path) -> Path:
    """Write a backup of ``db`` to ``target`` (refusing to overwrite a file); returns it.

    Raises:
        BackupError: the target exists, a tool is missing, or the copy fails its check.
    """
    target = Path(target)
    if target.exists():
        raise BackupError(
            f"{target} exists; choose a new file name (backups are never overwritten)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        if db.dialect == "sqlite":
            src = sqlite3.connect(_sqlite_path(db))
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # the online backup API: consistent, WAL included
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                dst.close()
                src.close()
            if check != "ok":
                raise BackupError(f"the backup copy fails SQLite's integrity check: {check}")
        else:
            _run(["pg_dump", "--format=custom", f"--file={partial}", _pg_url(db)])
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def restore(db: Database, source: Path) -> None:
    """Replace the contents of ``db`` with the backup ``source`` (then run
    ``services.maintenance.after_restore``).

    Raises:
        BackupError: raad is serving the database, the file is missing or not a backup of this
            kind of database, or the restore fails (the database is left as it was).
    """
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    if serving(db):
        raise BackupError("raad is serving this database: stop it (all workers) before restoring")
    if db.dialect == "sqlite":
        target = _sqlite_path(db)
        probe = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            check = probe.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in probe.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not a SQLite backup ({exc})") from None
        finally:
            probe.close()
        if check != "ok":
            raise BackupError(f"{source} fails SQLite's integrity check: {check}")
        if not tables >= RAAD_TABLES:
            raise BackupError(
                f"{source} is a SQLite file but not a raad backup (no "
                f"{', '.join(sorted(RAAD_TABLES - tables))}): the database was left as it was"
            )
        db.dispose()
        staged = target.with_name(target.name + ".restoring")
        shutil.copyfile(source, staged)
        for suffix in ("-wal", "-shm"):  # the live database's WAL belongs to the old contents
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        staged.replace(target)
    else:
        listing = _run(["pg_restore", "--list", str(source)])
        absent = [t for t in sorted(RAAD_TABLES) if f"TABLE public {t} " not in listing]
        if absent:
            raise BackupError(
                f"{source} is not a raad backup (no {', '.join(absent)}): the database was "
                "left as it was"
            )
        db.dispose()
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                f"--dbname={_pg_url(db)}",
                str(source),
            ]
        )


def serving(db: Database) -> bool:
    """Whether ``raad serve`` is running on this database."""
    if db.dialect == "sqlite":
        path = Path(f"{_sqlite_path(db)}.serving")
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing releases a lock we took
        return False
    with db.engine.connect() as conn:
        n = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": SERVE_APPLICATION_NAME},
        ).scalar()
    return bool(n)


@contextmanager
def serving_marker(db: Database) -> Iterator[None]:
    """Held by ``raad serve`` for its lifetime (see :func:`serving`). On PostgreSQL the marker is
    the connections' ``application_name``, set through ``RAAD_APPLICATION_NAME``."""
    if db.dialect != "sqlite":
        os.environ["RAAD_APPLICATION_NAME"] = SERVE_APPLICATION_NAME
        yield
        return
    fd = os.open(f"{_sqlite_path(db)}.serving", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # shared: every worker holds it; restore wants it alone
        yield
    finally:
        os.close(fd)


def _run(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        raise BackupError(f"{cmd[0]} not found: install the PostgreSQL client tools")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{cmd[0]} failed: {done.stderr.strip()[:500]}")
    return done.stdout
