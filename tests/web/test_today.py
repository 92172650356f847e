"""Today's clinic (issue 18): the day's planned and recorded sessions at the site with their
state, and the alert inbox; clinicians see their own site, researchers none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.helpers import (
    browser_as,
    new_course,
    new_patient,
    session_body,
    signature,
)


def _row(page: str, name: str) -> str:
    """The table row naming ``name``."""
    at = page.index(name)
    return page[page.rfind("<tr>", 0, at) : page.index("</tr>", at)]


def _day(when: datetime) -> str:
    """The site's calendar day of ``when`` (the test site keeps UTC)."""
    return when.astimezone(UTC).date().isoformat()


def test_the_day_view_shows_each_state(api):
    """Each state on the day its session started: a session started before midnight is on the
    previous day's view (so the test holds at any hour, midnight included)."""
    now = datetime.now(UTC)
    today = _day(now)
    # due: a course that plans a session today, none recorded
    due = new_patient(api)
    new_course(api, due["id"], start=today)
    shown = {today: []}
    shown[today].append((due, "due"))

    def recorded(state: str, started: datetime, **extra: str) -> dict:
        patient = new_patient(api)
        course = new_course(api, patient["id"], start=_day(started))
        r = api.client.post(
            "/sessions",
            json=session_body(course["id"], start=started.isoformat(), **extra),
            headers=api.h("clinician"),
        )
        assert r.status_code == 201, r.text
        shown.setdefault(_day(started), []).append((patient, state))
        return r.json()

    # in progress: started 5 min ago, 60 min of inhalation
    recorded("in progress", now - timedelta(minutes=5))
    # observing: 60 min of inhalation ended, not ready to leave yet
    recorded("observing", now - timedelta(minutes=75))
    # discharged
    s = recorded(
        "discharged",
        now - timedelta(minutes=150),
        ready_to_leave_at=(now - timedelta(minutes=50)).isoformat(),
    )
    r = api.client.post(
        f"/sessions/{s['id']}/discharge",
        json={"signature": signature(api)},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert r.status_code == 200, r.text
    for day, expected in shown.items():
        page = browser_as(api).get("/ui/today", params={"day": day})
        assert page.status_code == 200
        for patient, state in expected:
            row = _row(page.text, patient["identity"]["family_name"])
            assert f">{state}</span>" in row, (state, row)
    today_page = browser_as(api).get("/ui/today").text
    assert "record session" in _row(today_page, due["identity"]["family_name"])
    # another day shows none of them
    other = browser_as(api).get("/ui/today", params={"day": "2020-01-01"}).text
    assert due["identity"]["family_name"] not in other


def test_the_inbox_and_who_may_see_the_day(api):
    p = new_patient(api)
    c = new_course(api, p["id"])
    api.client.post(
        "/sessions",
        json=session_body(c["id"], unresolved=["dissociation"]),
        headers=api.h("clinician"),
    )
    web = browser_as(api)
    page = web.get("/ui/today").text
    inbox = page[page.index("Alert inbox") :]
    assert p["identity"]["family_name"] in inbox and "blocks discharge" in inbox
    # another clinic's clinician does not see it; researchers see no clinic list
    assert (
        p["identity"]["family_name"] not in browser_as(api, "other_clinician").get("/ui/today").text
    )
    assert browser_as(api, "researcher").get("/ui/today").status_code == 403
    assert web.get("/ui/today", params={"site": api.world.other_site}).status_code == 403
    assert web.get("/ui/today", params={"day": "yesterday"}).status_code == 422
    admin = browser_as(api, "admin")
    assert admin.get("/ui/today").status_code == 422  # admins name the site
    assert (
        p["identity"]["family_name"] in admin.get("/ui/today", params={"site": api.world.site}).text
    )


def test_the_day_is_the_sites_calendar_day(api):
    """A site at UTC+14 (Pacific/Kiritimati, no summer time): a session at 11:00 UTC on
    5 January is at 01:00 on 6 January there, so it belongs to the 6th (the day was a UTC day
    before, and showed it on the 5th)."""
    r = api.client.patch(
        f"/sites/{api.world.site}", json={"time_zone": "Pacific/Kiritimati"}, headers=api.h("admin")
    )
    assert r.status_code == 200
    try:
        p = new_patient(api)
        c = new_course(api, p["id"], start="2026-01-05")
        s = api.client.post(
            "/sessions",
            json=session_body(c["id"], start="2026-01-05T11:00:00+00:00"),
            headers=api.h("clinician"),
        )
        assert s.status_code == 201, s.text
        name = p["identity"]["family_name"]
        web = browser_as(api)
        sixth = web.get("/ui/today", params={"day": "2026-01-06"}).text
        assert "01:00" in _row(sixth, name) and "in Pacific/Kiritimati" in sixth
        fifth = web.get("/ui/today", params={"day": "2026-01-05"}).text
        # on the 5th the course's first planned session shows as due, not the recorded one
        assert ">due</span>" in _row(fifth, name) and "01:00" not in _row(fifth, name)
        # an admin (no site of their own) sees the site's day and times in the site's zone
        admin = browser_as(api, "admin").get(
            "/ui/today", params={"day": "2026-01-06", "site": api.world.site}
        )
        assert "01:00" in _row(admin.text, name)
    finally:
        api.client.patch(
            f"/sites/{api.world.site}", json={"time_zone": "UTC"}, headers=api.h("admin")
        )


def test_ready_to_leave_says_when_an_alert_still_holds_discharge(api):
    now = datetime.now(UTC)
    started = now - timedelta(minutes=120)  # on the previous day's view just after midnight
    p = new_patient(api)
    c = new_course(api, p["id"], start=_day(started))
    s = api.client.post(
        "/sessions",
        json=session_body(
            c["id"],
            start=started.isoformat(),
            ready_to_leave_at=(now - timedelta(minutes=5)).isoformat(),
            unresolved=["dissociation"],
        ),
        headers=api.h("clinician"),
    )
    assert s.status_code == 201, s.text
    page = browser_as(api).get("/ui/today", params={"day": _day(started)}).text
    row = _row(page, p["identity"]["family_name"])
    assert ">ready to leave</span>" in row and "discharge blocked" in row
