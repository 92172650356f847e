"""Today's clinic (issue 18): the day's planned and recorded sessions at the site with their
state, and the alert inbox; clinicians see their own site, researchers none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.api.helpers import new_course, new_patient, session_body, signature, web_login
from tests.dbfixtures import PASSWORD


def _browser(api, role="clinician") -> TestClient:
    web = TestClient(api.client.app, raise_server_exceptions=False)
    assert web_login(web, api.world.usernames[role], PASSWORD).status_code == 303
    web.headers["X-CSRF-Token"] = web.cookies.get("raad_csrf")
    return web


def _row(page: str, name: str) -> str:
    """The table row naming ``name``."""
    at = page.index(name)
    return page[page.rfind("<tr>", 0, at) : page.index("</tr>", at)]


def test_the_day_view_shows_each_state(api):
    now = datetime.now(UTC)
    today = now.date().isoformat()
    # due: a course that plans a session today, none recorded
    due = new_patient(api)
    new_course(api, due["id"], start=today)
    # in progress: started 5 min ago, 60 min of inhalation
    busy = new_patient(api)
    c = new_course(api, busy["id"], start=today)
    api.client.post(
        "/sessions",
        json=session_body(c["id"], start=(now - timedelta(minutes=5)).isoformat()),
        headers=api.h("clinician"),
    )
    # observing: 60 min of inhalation ended, not ready to leave yet
    watch = new_patient(api)
    c = new_course(api, watch["id"], start=today)
    api.client.post(
        "/sessions",
        json=session_body(c["id"], start=(now - timedelta(minutes=75)).isoformat()),
        headers=api.h("clinician"),
    )
    # discharged
    gone = new_patient(api)
    c = new_course(api, gone["id"], start=today)
    s = api.client.post(
        "/sessions",
        json=session_body(
            c["id"],
            start=(now - timedelta(minutes=150)).isoformat(),
            ready_to_leave_at=(now - timedelta(minutes=50)).isoformat(),
        ),
        headers=api.h("clinician"),
    ).json()
    r = api.client.post(
        f"/sessions/{s['id']}/discharge",
        json={"signature": signature(api)},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert r.status_code == 200, r.text
    page = _browser(api).get("/ui/today")
    assert page.status_code == 200
    text = page.text
    for patient, state in (
        (due, "due"),
        (busy, "in progress"),
        (watch, "observing"),
        (gone, "discharged"),
    ):
        row = _row(text, patient["identity"]["family_name"])
        assert f">{state}</span>" in row, (state, row)
    assert "record session" in _row(text, due["identity"]["family_name"])
    # another day shows none of them
    other = _browser(api).get("/ui/today", params={"day": "2020-01-01"}).text
    assert due["identity"]["family_name"] not in other


def test_the_inbox_and_who_may_see_the_day(api):
    p = new_patient(api)
    c = new_course(api, p["id"])
    api.client.post(
        "/sessions",
        json=session_body(c["id"], unresolved=["dissociation"]),
        headers=api.h("clinician"),
    )
    web = _browser(api)
    page = web.get("/ui/today").text
    inbox = page[page.index("Alert inbox") :]
    assert p["identity"]["family_name"] in inbox and "blocks discharge" in inbox
    # another clinic's clinician does not see it; researchers see no clinic list
    assert (
        p["identity"]["family_name"] not in _browser(api, "other_clinician").get("/ui/today").text
    )
    assert _browser(api, "researcher").get("/ui/today").status_code == 403
    assert web.get("/ui/today", params={"site": api.world.other_site}).status_code == 403
    assert web.get("/ui/today", params={"day": "yesterday"}).status_code == 422
    admin = _browser(api, "admin")
    assert admin.get("/ui/today").status_code == 422  # admins name the site
    assert (
        p["identity"]["family_name"] in admin.get("/ui/today", params={"site": api.world.site}).text
    )
