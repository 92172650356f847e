"""Site time zones (issue 18: times were UTC only): stored in UTC, typed and shown in the
site's zone, with the zone's abbreviation on every time shown."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from tests.api.helpers import browser_as, new_course, new_patient


def test_times_are_typed_and_shown_in_the_sites_zone(api):
    r = api.client.patch(
        f"/sites/{api.world.site}", json={"time_zone": "Europe/Paris"}, headers=api.h("admin")
    )
    assert r.status_code == 200 and r.json()["time_zone"] == "Europe/Paris"
    try:
        web = browser_as(api)
        p = new_patient(api)
        c = new_course(api, p["id"])
        page = web.get(f"/ui/courses/{c['id']}/sessions/new").text
        assert "Start (Europe/Paris)" in page
        token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
        form = {
            "form_token": token,
            "start": "2026-01-05T10:00",  # 10:00 in Paris in winter is 09:00 UTC
            "duration_min": "60",
            "n2o_percent": "50",
            "observation_min": "30",
            "v0_time": "2026-01-05T09:55",
            "v0_systolic": "120",
            "v0_diastolic": "80",
        }
        saved = web.post(f"/ui/courses/{c['id']}/sessions", data=form)
        assert saved.status_code == 204, saved.text
        sid = saved.headers["hx-redirect"].rsplit("/", 1)[1]
        s = api.client.get(f"/sessions/{sid}", headers=api.h("clinician")).json()
        assert s["start"] == "2026-01-05T09:00:00+00:00"
        assert s["vitals"][0]["time"] == "2026-01-05T08:55:00+00:00"
        shown = web.get(f"/ui/sessions/{sid}").text
        assert "Session 2026-01-05 10:00 CET" in shown and "09:55 CET" in shown
        # summer time is shown as such
        summer = web.post(
            f"/ui/courses/{c['id']}/sessions/preview", data=dict(form, start="2026-07-01T10:00")
        )
        assert summer.status_code == 200
    finally:
        api.client.patch(
            f"/sites/{api.world.site}", json={"time_zone": "UTC"}, headers=api.h("admin")
        )


def test_a_zone_must_be_real_and_set_by_an_admin(api):
    bad = api.client.patch(
        f"/sites/{api.world.site}", json={"time_zone": "Mars/Olympus"}, headers=api.h("admin")
    )
    assert bad.status_code == 422 and bad.json()["field"] == "time_zone"
    assert (
        api.client.patch(
            f"/sites/{api.world.site}", json={"time_zone": "UTC"}, headers=api.h("clinician")
        ).status_code
        == 403
    )
    assert (
        api.client.patch(
            "/sites/NOPE-SITE", json={"time_zone": "UTC"}, headers=api.h("admin")
        ).status_code
        == 404
    )


def test_the_operator_sets_it_on_the_command_line(database, world):
    from raad.cli import app

    r = CliRunner().invoke(
        app, ["site", "time-zone", world.site, "America/New_York", "--url", database.url]
    )
    assert r.exit_code == 0 and "America/New_York" in r.output
    r = CliRunner().invoke(
        app, ["site", "time-zone", world.site, "Nowhere/Else", "--url", database.url]
    )
    assert r.exit_code == 2 and "IANA" in r.output
    CliRunner().invoke(app, ["site", "time-zone", world.site, "UTC", "--url", database.url])
