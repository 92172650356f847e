"""HTTP hardening (issue 17): security headers on every response and If-Match as RFC 9110
13.1.1 has it (``*``, lists, strong comparison)."""

from __future__ import annotations

import pytest

from tests.api.helpers import new_patient


@pytest.mark.parametrize("url", ["/patients?limit=1", "/ui/login", "/health", "/patients/999999"])
def test_security_headers_everywhere(api, url):
    r = api.client.get(url, headers=api.h("clinician"))
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"


def test_static_assets_may_be_cached_and_a_refused_body_has_headers(api):
    r = api.client.get("/static/raad.css")
    assert r.status_code == 200 and "cache-control" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"
    big = api.client.post(
        "/patients",
        content=b"x" * 2_000_000,
        headers=api.h("clinician", **{"Content-Type": "application/json"}),
    )
    assert big.status_code == 413 and big.headers["cache-control"] == "no-store"


def _patch(api, pid, if_match, sex="male"):
    return api.client.patch(
        f"/patients/{pid}", json={"sex": sex}, headers=api.h("clinician", **{"If-Match": if_match})
    )


def test_if_match_strong_comparison_lists_and_star(api):
    p = new_patient(api)
    assert _patch(api, p["id"], 'W/"1"').status_code == 412  # a weak tag never matches
    assert _patch(api, p["id"], '"7", "8"').status_code == 412
    r = _patch(api, p["id"], '"7", "1"')  # one of the list is current
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    assert _patch(api, p["id"], "*", sex="female").status_code == 200  # any current version
    bad = _patch(api, p["id"], '"1", banana')
    assert bad.status_code == 422 and bad.json()["field"] == "If-Match"


def test_a_405_lists_every_method_the_path_takes(api):
    """Schemathesis (ST205): on a path with two methods, a 405 named only one."""
    r = api.client.put("/patients", headers=api.h("admin"))
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) >= {"GET", "POST"}
    r = api.client.delete("/sessions/1", headers=api.h("admin"))
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) >= {"GET", "PATCH"}
