"""/health says what is wrong (issue 17: it said "ok" on a full disk): a database that cannot be
written and a nearly full disk give 503 "degraded" with the reason."""

from __future__ import annotations

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
