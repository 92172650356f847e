"""A patient answers from a phone (issue 19), in Debian's Chromium at 390x844: the link opens
the questionnaire with nothing else on it, PHQ-9 with item 9 positive shows the crisis
resources, no page scrolls sideways, axe finds no WCAG A/AA violation; the clinician then sees
the critical alert and the answer marked as the patient's own."""

from __future__ import annotations

import secrets

import httpx
from playwright.sync_api import expect

from tests.dbfixtures import PASSWORD
from tests.web.test_accessibility import _violations
from tests.web.test_e2e import login

CRISIS = "Call 999 in an emergency, or text SHOUT to 85258."


def _token(base: str, user: str) -> dict[str, str]:
    r = httpx.post(f"{base}/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_a_patient_answers_on_a_phone_and_the_clinic_sees_it(browser, server):
    admin, nurse = _token(server, "admin.e2e"), _token(server, "nurse.e2e")
    r = httpx.patch(
        f"{server}/sites/E2E", json={"self_report": True, "crisis_text": CRISIS}, headers=admin
    )
    assert r.status_code == 200, r.text
    tag = secrets.token_hex(3)
    family = f"Synthetic-Phone-{tag}"
    p = httpx.post(
        f"{server}/patients",
        json={"identity": {"given_name": "Ada", "family_name": family, "mrn": f"PH-{tag}"}},
        headers=nurse,
    ).json()
    link = httpx.post(
        f"{server}/patients/{p['id']}/self-report", json={"instrument": "PHQ-9"}, headers=nurse
    ).json()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    page.set_default_timeout(15000)
    page.goto(link["url"])
    expect(
        page.get_by_role("heading", name="Patient Health Questionnaire, 9 items")
    ).to_be_visible()
    assert family not in page.content() and "E2E" not in page.content()
    assert page.evaluate("document.scripts.length") == 0  # works without scripts
    assert _violations(page) == []
    wide = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert wide <= 1
    groups = page.locator("fieldset")
    assert groups.count() >= 9
    for i in range(9):
        answer = "Several days" if i == 8 else "Not at all"
        groups.nth(i).get_by_label(answer, exact=True).check()
    if groups.count() > 9:  # item 10 (difficulty), asked when the total is above 0
        groups.nth(9).get_by_label("Somewhat difficult").check()
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", name="Please reach out for support now")).to_be_visible()
    expect(page.get_by_text(CRISIS)).to_be_visible()
    assert _violations(page) == []
    page.goto(link["url"])
    expect(page.get_by_text("expired or has already been used")).to_be_visible()
    phone.close()
    # the clinician's view
    desk = browser.new_context(viewport={"width": 1280, "height": 800})
    page = desk.new_page()
    login(page, server, "nurse.e2e")
    page.goto(f"{server}/ui/patients/{p['id']}")
    alerts = page.locator("section", has=page.get_by_role("heading", name="Open alerts"))
    expect(alerts.locator(".critical").first).to_be_visible()
    expect(page.get_by_role("cell", name="patient, from home")).to_be_visible()
    desk.close()
