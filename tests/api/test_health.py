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
