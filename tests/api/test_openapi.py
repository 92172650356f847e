"""The OpenAPI document builds and names every resource; /health answers without credentials."""

from __future__ import annotations


def test_openapi_lists_the_resources(client):
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for p in (
        "/auth/token",
        "/patients",
        "/patients/{patient_id}/summary",
        "/sessions",
        "/sessions/{session_id}/discharge",
        "/alerts/{alert_id}/acknowledge",
        "/audit",
        "/fhir/Patient/{patient_id}/$everything",
        "/cds-services",
        "/health",
    ):
        assert p in paths, p
    assert not any(p.startswith("/ui") for p in paths)  # web pages stay out of the API document
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()  # every asset is served by raad (closed networks)
    for ref in ("swagger-ui-bundle.js", "swagger-ui.css"):
        url = next(s for s in page.text.split('"') if s.endswith(ref))
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 10_000, url


def test_health(client, database):
    h = client.get("/health").json()
    assert h == {**h, "status": "ok", "database": database.dialect, "schema_revision": "0018"}
    assert len(h["knowledge_version"]) == 16


def test_openapi_declares_authentication_headers_and_errors(client):
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["session"]["in"] == "cookie"
    patch = spec["paths"]["/patients/{patient_id}"]["patch"]
    assert {"bearer": []} in patch["security"]
    assert any(p["name"] == "If-Match" and p["required"] for p in patch["parameters"])
    post = spec["paths"]["/sessions"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    for code in ("401", "403", "404", "413", "422", "503"):
        assert code in post["responses"], code
    assert "security" not in spec["paths"]["/health"]["get"]
    err = client.get("/patients/999999999", headers={"Authorization": "Bearer nope"})
    assert set(err.json()) >= {"error", "message"}  # the declared Error shape


def test_the_header_and_media_declarations_name_real_routes(client):
    """Every route the OpenAPI generator treats specially exists (a renamed route would
    silently lose its If-Match, Idempotency-Key, media type or body declaration)."""
    from raad.api import openapi

    spec = client.get("/openapi.json").json()
    listed = {(p, m) for p, item in spec["paths"].items() for m in item}
    for group in (
        openapi._IF_MATCH,
        openapi._IDEMPOTENT,
        set(openapi._MEDIA),
        set(openapi._BODIES),
        openapi._CREATED,
    ):
        assert group <= listed, group - listed
    assert openapi._EXPORT in listed
    patch_user = spec["paths"]["/users/{username}"]["patch"]
    assert "If-Match" not in {p["name"] for p in patch_user.get("parameters", [])}
    fhir = spec["paths"]["/fhir/Questionnaire"]["get"]["responses"]["200"]["content"]
    assert list(fhir) == ["application/fhir+json"]
    for code in ("400", "412", "422", "428"):
        assert spec["paths"]["/sessions/{session_id}"]["patch"]["responses"][code]["content"]
