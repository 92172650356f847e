"""/health says what is wrong (issue 17: it said "ok" on a full disk): a database that cannot be
written and a nearly full disk give 503 "degraded" with the reason."""

from __future__ import annotations

import os
import secrets

from fastapi.testclient import TestClient

from raad.api import create_app, routes_admin
from raad.store import Database
from raad.store.migrate import upgrade


def _client(url: str) -> TestClient:
    return TestClient(create_app(Database(url)), raise_server_exceptions=False)


def test_healthy_then_a_nearly_full_disk(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(Database(url))
    c = _client(url)
    r = c.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["writable"] is True
    assert r.json()["disk_free_bytes"] > 0
    monkeypatch.setattr(routes_admin, "MIN_FREE_BYTES", 1 << 62)  # more than any disk has
    r = c.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "degraded"
    assert r.json()["problems"][0].startswith("disk nearly full")


def test_a_read_only_database_is_reported(tmp_path):
    path = tmp_path / "ro.db"
    upgrade(Database(f"sqlite:///{path}"))
    c = _client(f"sqlite:///file:{path}?mode=ro&uri=true")  # opened read-only
    r = c.get("/health")
    assert r.status_code == 503 and r.json()["writable"] is False
    assert "not writable" in r.json()["problems"][0]


def test_a_write_to_a_read_only_database_is_503_with_retry_after(tmp_path):
    from raad.services import auth

    path = tmp_path / "ro2.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    with db.transaction() as s:
        auth.get_or_create_site(s, "S1")
        u = auth.create_user(s, "ro.admin", "correct horse battery staple", "admin")
        token = auth.issue_token(s, u).token
    db.dispose()
    c = _client(f"sqlite:///file:{path}?mode=ro&uri=true")
    r = c.post(
        "/patients",
        json={"identity": {"given_name": "R", "family_name": "O", "mrn": "RO-1"}, "site": "S1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5" and "nothing was saved" in r.json()["message"]
    assert (
        c.get("/patients?limit=1", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )


def _filling_writes(c: TestClient, token: str, site: str) -> list[int]:
    """Register patients until the database refuses; the statuses seen."""
    seen = []
    for i in range(3000):
        r = c.post(
            "/patients",
            json={
                "identity": {
                    "given_name": "Full" * 20,
                    "family_name": f"Disk{i}-{secrets.token_hex(40)}",
                    "mrn": f"FD-{secrets.token_hex(8)}",
                },
                "site": site,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        seen.append(r.status_code)
        if r.status_code != 201:
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5" and "nothing was saved" in r.json()["message"]
            break
    return seen


def _admin_token(db: Database) -> str:
    from raad.services import auth

    with db.transaction() as s:
        auth.get_or_create_site(s, "S1")
        u = auth.create_user(s, "full.admin", "correct horse battery staple", "admin")
        return auth.issue_token(s, u).token


def _count(db: Database) -> int:
    from sqlalchemy import func, select

    from raad.store.models import Patient

    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(Patient))


def test_a_full_disk_gives_503_keeps_what_was_saved_and_recovers(tmp_path):
    """A real full disk: a 4 MiB tmpfs mounted by the test (root only; otherwise skipped, and
    the next test simulates one at the SQLite layer)."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)]).returncode:
        import pytest

        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        db = Database(f"sqlite:///{mnt / 'full.db'}")
        upgrade(db)
        token = _admin_token(db)
        # leave about 96 KiB free: the writes reach a full disk soon
        free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * max(0, free - 96 * 1024))
        c = _client(f"sqlite:///{mnt / 'full.db'}")
        seen = _filling_writes(c, token, "S1")
        assert seen[-1] == 503 and seen.count(201) == len(seen) - 1, seen
        saved = _count(db)
        assert saved == seen.count(201)  # every acknowledged write is there, the refused one not
        h = c.get("/health")
        assert h.status_code == 503 and h.json()["status"] == "degraded"
        # room is made (the filler written before the writes is removed): writes work again
        filler.unlink()
        again = _filling_writes(c, token, "S1")
        assert again[0] == 201, again
        c.close()
        db.dispose()
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_a_full_database_at_the_sqlite_layer_gives_503(tmp_path):
    """A full disk simulated at the SQLite layer (``PRAGMA max_page_count``): the same 503 with
    Retry-After, nothing half-written, and the database usable once room is made."""
    from sqlalchemy import event

    path = tmp_path / "capped.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    token = _admin_token(db)
    db.dispose()
    capped = Database(f"sqlite:///{path}")

    @event.listens_for(capped.engine, "connect")
    def _cap(dbapi_conn, _record):  # the file may grow by 24 pages more
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 24}")

    c = TestClient(create_app(capped), raise_server_exceptions=False)
    seen = _filling_writes(c, token, "S1")
    assert seen[-1] == 503 and 0 < seen.count(201) == len(seen) - 1, seen
    assert _count(capped) == seen.count(201)
    # reads that write nothing still work (a list of identified patients is an audited read:
    # with no room for its audit row it is refused too, and nothing is shown unaudited)
    r = c.get("/patients/1/summary", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


def test_serve_on_a_read_only_database(tmp_path, capsys):
    """Issue 17: a read-only database gave a traceback at start. At the newest schema raad
    serves reads with a warning; one that needs migrating stops with one line saying why."""
    import pytest
    import typer

    from raad.cli_service import _upgrade_or_read_only

    path = tmp_path / "ro-start.db"
    upgrade(Database(f"sqlite:///{path}"), "0007")
    ro = Database(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(typer.Exit) as stopped:
        _upgrade_or_read_only(ro)
    assert stopped.value.exit_code == 2
    said = capsys.readouterr().err
    assert "read-only" in said and "0007" in said and "Traceback" not in said
    upgrade(Database(f"sqlite:///{path}"))
    assert _upgrade_or_read_only(Database(f"sqlite:///file:{path}?mode=ro&uri=true")) is True
    assert "serves reads" in capsys.readouterr().err
    assert _upgrade_or_read_only(Database(f"sqlite:///{path}")) is False


def test_web_pages_answer_a_database_fault_with_a_page_not_json(tmp_path):
    """A web page's write on a read-only database: the web's own 503 page (or, for htmx, the
    message beside the form), with Retry-After; never the API's JSON."""
    from raad.services import auth

    path = tmp_path / "ro-web.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    with db.transaction() as s:
        auth.get_or_create_site(s, "W1")
        u = auth.create_user(s, "ro.nurse", "correct horse battery staple", "clinician", "W1")
        issued = auth.issue_token(s, u, "cookie")
    db.dispose()
    c = _client(f"sqlite:///file:{path}?mode=ro&uri=true")
    c.cookies.set("raad_session", issued.token)
    c.cookies.set("raad_csrf", issued.csrf)
    form = {"given_name": "Ro", "family_name": "Only", "mrn": "RO-9", "birth_date": "1980-01-01"}
    page = c.post("/ui/patients/new", data=form, headers={"X-CSRF-Token": issued.csrf})
    assert page.status_code == 503 and page.headers["retry-after"] == "5"
    assert page.headers["content-type"].startswith("text/html")
    assert "Try again shortly" in page.text and "nothing was saved" in page.text
    fragment = c.post(
        "/ui/patients/new", data=form, headers={"X-CSRF-Token": issued.csrf, "HX-Request": "true"}
    )
    assert fragment.status_code == 200 and fragment.headers["content-type"].startswith("text/html")
    assert "nothing was saved" in fragment.text and "<html" not in fragment.text
    # the API on the same app still answers JSON
    api = c.post(
        "/patients",
        json={"identity": {"given_name": "R", "family_name": "O", "mrn": "RO-1"}},
        headers={"Authorization": f"Bearer {issued.token}"},
    )
    assert api.status_code in (401, 503) and api.headers["content-type"] == "application/json"


def test_a_postgresql_server_that_refuses_connections_gives_503(monkeypatch):
    """On the event loop (asyncpg) as in the thread pool (psycopg): a server that is down is
    "try again", 503 with Retry-After, never an internal error."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://raad@127.0.0.1:{port}/raad"
    for threads in ("", "1"):
        monkeypatch.setenv("RAAD_PG_THREADS", threads)
        db = Database(url)
        with TestClient(create_app(db), raise_server_exceptions=False) as c:
            r = c.get("/patients/1/summary", headers={"Authorization": "Bearer x"})
        db.dispose()
        assert r.status_code == 503, (threads, r.text)
        assert r.headers["Retry-After"] and "connection refused" in r.json()["message"]
