"""Issue 18: double-clicking Save created duplicates (sessions, ratings, patients). Every form
that creates a record carries a fresh token; the same token twice creates one record, at the
same time or one after the other, and the button is disabled while the request runs."""

from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor

from tests.api.helpers import browser_as, new_course, new_patient


def _token(page: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def test_registering_twice_with_one_token_makes_one_patient(api):
    web = browser_as(api)
    page = web.get("/ui/patients/new").text
    assert 'hx-disabled-elt="find button"' in page
    mrn = f"DBL-{secrets.token_hex(3)}"
    form = {"form_token": _token(page), "given_name": "Dee", "family_name": "Double", "mrn": mrn}
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: web.post("/ui/patients/new", data=form), range(2)))
    targets = {a.headers.get("hx-redirect") for a in answers}
    assert len(targets) == 1 and None not in targets, [a.text for a in answers]
    again = web.post("/ui/patients/new", data=form)
    assert again.headers.get("hx-redirect") in targets
    found = api.client.get("/patients", params={"q": mrn}, headers=api.h("clinician")).json()
    assert found["total"] == 1
    # a fresh page gives a fresh token: a second, deliberate registration is its own
    other = dict(form, form_token=_token(web.get("/ui/patients/new").text), mrn=mrn + "-2")
    assert web.post("/ui/patients/new", data=other).headers.get("hx-redirect") not in targets


def test_saving_a_session_twice_makes_one_session(api):
    web = browser_as(api)
    p = new_patient(api)
    c = new_course(api, p["id"])
    page = web.get(f"/ui/courses/{c['id']}/sessions/new").text
    form = {
        "form_token": _token(page),
        "start": "2026-01-05T10:00",
        "duration_min": "60",
        "n2o_fraction": "50",
        "observation_min": "30",
    }
    first = web.post(f"/ui/courses/{c['id']}/sessions", data=form)
    second = web.post(f"/ui/courses/{c['id']}/sessions", data=form)
    assert first.headers.get("hx-redirect") == second.headers.get("hx-redirect"), first.text
    listed = api.client.get(
        "/sessions", params={"course_id": c["id"]}, headers=api.h("clinician")
    ).json()
    assert listed["total"] == 1
    # the same token with other values is refused, not silently answered with the first
    changed = web.post(f"/ui/courses/{c['id']}/sessions", data=dict(form, duration_min="30"))
    assert "form_token" in changed.text or "Idempotency-Key" in changed.text
