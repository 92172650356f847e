"""CORS for browser-based EHR sandboxes (issue 22): only the configured origins, without
credentials; none by default."""

from __future__ import annotations

from fastapi.testclient import TestClient

from raad.api import create_app


def _preflight(client, origin):
    return client.options(
        "/cds-services",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )


def test_configured_origin_is_allowed_without_credentials(database, monkeypatch):
    monkeypatch.setenv("RAAD_CORS_ORIGINS", "https://sandbox.cds-hooks.org, https://ehr.example/")
    with TestClient(create_app(database, web=False)) as c:
        ok = _preflight(c, "https://sandbox.cds-hooks.org")
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
        assert "access-control-allow-credentials" not in ok.headers
        get = c.get("/fhir/metadata", headers={"Origin": "https://ehr.example"})
        assert get.headers["access-control-allow-origin"] == "https://ehr.example"
        other = _preflight(c, "https://evil.example")
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_by_default(database, monkeypatch):
    monkeypatch.delenv("RAAD_CORS_ORIGINS", raising=False)
    with TestClient(create_app(database, web=False)) as c:
        r = c.get("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"})
        assert "access-control-allow-origin" not in r.headers
