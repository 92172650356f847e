"""Small builders shared by the API tests."""

from __future__ import annotations

import secrets
from typing import Any


def signature(api, role: str = "clinician") -> dict[str, str]:
    """The e-signature components of the world's ``role`` user (username and password again)."""
    from tests.dbfixtures import PASSWORD

    return {"username": api.world.usernames[role], "password": PASSWORD}


def new_patient(api, role: str = "clinician", **facts: Any) -> dict[str, Any]:
    body = {
        "identity": {
            "given_name": "Test",
            "family_name": f"Synthetic-{secrets.token_hex(3)}",
            "mrn": f"T-{secrets.token_hex(4)}",
            "birth_date": "1980-05-01",
        },
        "sex": "female",
        "facts": facts,
    }
    if role == "admin":
        body["site"] = api.world.site
    r = api.client.post("/patients", json=body, headers=api.h(role))
    assert r.status_code == 201, r.text
    return r.json()


def new_course(
    api,
    patient_id: int,
    regimen: str = "n2o-50-twice-weekly",
    start: str = "2026-01-05",
    **extra: Any,
) -> dict[str, Any]:
    r = api.client.post(
        f"/patients/{patient_id}/courses",
        json={"regimen": regimen, "start": start, **extra},
        headers=api.h("clinician"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def session_body(course_id: int, **over: Any) -> dict[str, Any]:
    body = {
        "course_id": course_id,
        "start": "2026-01-05T10:00:00+00:00",
        "duration_min": 60,
        "n2o_fraction": 0.5,
        "bp_pre": {"systolic": 125, "diastolic": 80},
        "bp_post": {"systolic": 128, "diastolic": 82},
        "observation_min": 30,
    }
    body.update(over)
    return body


def post_rating(
    api, patient_id: int, instrument: str, responses: dict[str, Any], when: str
) -> dict[str, Any]:
    """Record one rating (``when``: ISO date-time) and return the stored assessment."""
    r = api.client.post(
        f"/patients/{patient_id}/assessments",
        json={"instrument": instrument, "responses": responses, "administered_at": when},
        headers=api.h("clinician"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def hypertensive_ketamine_body(course_id: int, **over: Any) -> dict[str, Any]:
    """A ketamine IV session whose post-dose blood pressure (195/112) raises an alert that blocks
    discharge; the course must be ketamine-iv-weekly."""
    return session_body(
        course_id,
        n2o_fraction=None,
        dose_mg_per_kg=0.5,
        dose_mg=35,
        bp_post={"systolic": 195, "diastolic": 112},
        observation_min=120,
        **over,
    )


def web_login(client, username: str, password: str) -> Any:
    """Log in to the web pages as a browser does: the login page first (its login-CSRF token in
    a cookie and in the form), then the form; returns the POST's response."""
    import re

    page = client.get("/ui/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/ui/login",
        data={"username": username, "password": password, "login_csrf": token},
        follow_redirects=False,
    )


def browser_as(api, role: str = "clinician"):
    """A web-app client logged in as ``role`` (cookie session; the CSRF header set)."""
    from fastapi.testclient import TestClient

    from tests.dbfixtures import PASSWORD

    web = TestClient(api.client.app, raise_server_exceptions=False)
    r = web_login(web, api.world.usernames[role], PASSWORD)
    assert r.status_code == 303, r.text
    web.headers["X-CSRF-Token"] = web.cookies.get("raad_csrf")
    return web


def madrs_items(total: int) -> dict[str, int]:
    """MADRS answers (items 1-10, 0-6 each) adding up to ``total`` (at most 60)."""
    items = {str(i): 0 for i in range(1, 11)}
    for i in range(total):
        items[str(1 + i % 10)] += 1
    return items


def phq9_items(total: int) -> dict[str, int]:
    """PHQ-9 answers (items 1-9, 0-3 each) adding up to ``total`` (at most 27)."""
    items = {str(i): 0 for i in range(1, 10)}
    for i in range(total):
        items[str(1 + i % 9)] += 1
    return items
