"""Authentication and roles: who may not see or change a thing gets 401 or 403."""

from __future__ import annotations

import pytest

from tests.api.helpers import new_course, new_patient, session_body
from tests.dbfixtures import PASSWORD


@pytest.fixture(scope="module")
def records(api):
    p = new_patient(api)
    c = new_course(api, p["id"])
    s = api.client.post("/sessions", json=session_body(c["id"]), headers=api.h("clinician")).json()
    return {"patient": p["id"], "course": c["id"], "session": s["id"]}


def _requests(ids):
    p, c, s = ids["patient"], ids["course"], ids["session"]
    return [
        ("GET", "/patients", None),
        ("GET", f"/patients/{p}", None),
        ("GET", f"/patients/{p}/summary", None),
        ("GET", f"/sessions/{s}", None),
        ("GET", "/alerts", None),
        ("POST", "/patients", {"identity": {"given_name": "A", "family_name": "B", "mrn": "M"}}),
        ("PATCH", f"/patients/{p}", {"sex": "male"}),
        ("POST", f"/patients/{p}/screenings", None),
        ("POST", f"/patients/{p}/courses", {"regimen": "n2o-50-single", "start": "2026-02-01"}),
        ("POST", "/sessions", session_body(c)),
        (
            "POST",
            f"/patients/{p}/assessments",
            {
                "instrument": "PHQ-9",
                "responses": {str(i): 0 for i in range(1, 10)},
                "administered_at": "2026-01-05T09:00:00+00:00",
            },
        ),
        ("GET", "/audit", None),
    ]


def test_no_credentials_is_401_everywhere(api, records):
    for method, url, body in _requests(records):
        r = api.client.request(method, url, json=body)
        assert r.status_code == 401, (method, url, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
    bad = api.client.get("/patients", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert api.client.get("/patients", headers={"Authorization": "Basic abc"}).status_code == 401


def test_researcher_is_read_only_and_de_identified(api, records):
    allowed_reads = {
        "/patients",
        f"/patients/{records['patient']}/summary",
        f"/sessions/{records['session']}",
        "/alerts",
    }
    for method, url, body in _requests(records):
        r = api.client.request(
            method, url, json=body, headers=api.h("researcher", **{"If-Match": '"1"'})
        )
        if method == "GET" and url in allowed_reads:
            assert r.status_code == 200, (url, r.text)
        else:
            assert r.status_code == 403, (method, url, r.status_code, r.text)


def test_clinician_of_another_site_is_refused(api, records):
    for method, url, body in _requests(records):
        if url in ("/patients", "/alerts"):  # their own lists, without this patient
            continue
        r = api.client.request(
            method, url, json=body, headers=api.h("other_clinician", **{"If-Match": '"1"'})
        )
        assert r.status_code == 403, (method, url, r.status_code, r.text)


def test_only_admins_create_users(api):
    body = {"username": "newbie", "password": PASSWORD, "role": "clinician", "site": api.world.site}
    assert api.client.post("/users", json=body, headers=api.h("clinician")).status_code == 403
    for weak in ("short", "x" * 16, "password1234", f"u{api.world.site}-raad-1"):
        bad = dict(body, username=f"u{api.world.site}", password=weak)
        r = api.client.post("/users", json=bad, headers=api.h("admin"))
        assert r.status_code == 422 and r.json()["field"] == "password", (weak, r.text)
        assert weak not in r.text  # the password is never repeated
    ok = api.client.post(
        "/users", json=dict(body, username=f"u{api.world.site}"), headers=api.h("admin")
    )
    assert ok.status_code == 201


def test_lockout_after_repeated_failures(api, database):
    from raad.services import auth

    name = f"lock{api.world.site}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "researcher")
    for _ in range(auth.MAX_FAILED_LOGINS):
        r = api.client.post("/auth/token", data={"username": name, "password": "wrong password!"})
        assert r.status_code == 401
    r = api.client.post("/auth/token", data={"username": name, "password": PASSWORD})
    assert r.status_code == 401 and "locked" in r.json()["message"]
    events = api.client.get(
        "/audit", params={"entity": "user", "action": "login-locked"}, headers=api.h("admin")
    ).json()
    assert events["total"] >= 1


def test_browser_session_needs_the_csrf_token_for_changes(api, client):
    r = client.post(
        "/auth/login", data={"username": api.world.usernames["clinician"], "password": PASSWORD}
    )
    assert r.status_code == 200
    cookie = r.cookies.get("raad_session")
    csrf = r.json()["csrf_token"]
    set_cookie = ";".join(r.headers.get_list("set-cookie")).lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    client.cookies.clear()
    client.cookies.set("raad_session", cookie)
    assert client.get("/auth/me").json()["role"] == "clinician"
    body = {"identity": {"given_name": "A", "family_name": "Csrf", "mrn": "C-1"}}
    assert client.post("/patients", json=body).status_code == 403
    assert (
        client.post("/patients", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    )
    assert client.post("/patients", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    out = client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert client.get("/auth/me").status_code == 401
    client.cookies.clear()


def test_revoked_bearer_token_stops_working(api, client):
    r = client.post(
        "/auth/token", data={"username": api.world.usernames["researcher"], "password": PASSWORD}
    )
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get("/auth/me", headers=h).status_code == 200
    assert client.post("/auth/logout", headers=h).status_code == 204
    assert client.get("/auth/me", headers=h).status_code == 401
