"""The whole course of care in a real browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.dbfixtures import PASSWORD


def login(page, base, user):
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/ui/login(\?.*)?$"))
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()


def register(page, given: str, family: str, mrn: str, born: str = "1980-04-02") -> None:
    """Register a synthetic patient through the form and land on their page."""
    page.get_by_role("link", name="Register a patient").click()
    page.get_by_label("Given name").fill(given)
    page.get_by_label("Family name").fill(family)
    page.get_by_label("Record number").fill(mrn)
    page.get_by_label("Date of birth").fill(born)
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name=f"{family}, {given}")).to_be_visible()


def test_course_of_care(page, server):
    login(page, server, "nurse.e2e")

    # register a patient
    register(page, "Eve", "Synthetic-E2E", "E2E-1")

    # screening facts with a contraindication, then screen
    page.get_by_text("Screening facts").click()
    page.get_by_label("Vitamin B12").select_option("normal")
    page.get_by_label("Pregnant").select_option("no")
    page.get_by_label("Current opioid use").select_option("no")
    page.get_by_label("Systolic BP (mmHg)").fill("128")
    page.get_by_label("Diastolic BP (mmHg)").fill("82")
    page.get_by_label("Conditions (one per line)").fill("pneumothorax")
    with page.expect_navigation():  # the save answers HX-Refresh: wait for the new page
        page.get_by_role("button", name="Save facts").click()
    expect(page.get_by_label("Conditions (one per line)")).to_have_value(re.compile("pneumothorax"))
    expect(page.get_by_label("Vitamin B12")).to_have_value("normal")
    page.get_by_role("button", name="Screen now").click()
    expect(page.get_by_text(re.compile("Screened .* knowledge version"))).to_be_visible()
    n2o = page.locator("#screening tr", has=page.get_by_role("rowheader", name="n2o"))
    expect(n2o.locator(".badge").first).to_have_text("contraindicated")
    expect(n2o).to_contain_text("pneumothorax")
    expect(n2o.locator(".src").first).to_contain_text(re.compile(r"\[\w"))  # the source is shown

    # plan an esketamine course: the dated schedule and the checklist
    page.get_by_label("Regimen", exact=True).select_option("esketamine-label")
    page.get_by_label("Start", exact=True).fill("2026-12-01")
    page.get_by_role("button", name="Show schedule").click()
    expect(page.locator("#plan")).to_contain_text("2026-12-01")
    expect(page.locator("#plan")).to_contain_text("Before every session")
    page.get_by_role("button", name="Plan this course").click()
    expect(page.get_by_role("heading", name=re.compile("Record a session"))).to_be_visible()

    # a session that started three hours ago with a high blood pressure after dosing: the alert
    # appears as the form is filled
    started = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Start (UTC)").fill(started)
    page.get_by_label("Dose (mg)").fill("56")
    page.get_by_label("Systolic before (mmHg)").fill("130")
    page.get_by_label("Diastolic before (mmHg)").fill("80")
    page.get_by_label("Observation after dosing (min)").fill("130")
    page.get_by_label("Systolic after (mmHg)").fill("200")
    page.get_by_label("Diastolic after (mmHg)").fill("115")
    page.get_by_label("Reading after dosing taken at (min after dosing)").fill("40")
    page.get_by_label("Reading after dosing taken at (min after dosing)").blur()
    expect(page.locator("#live-alerts")).to_contain_text("Blocks discharge")
    page.get_by_role("button", name="Save session").click()
    expect(page.get_by_role("heading", name="Safety alerts")).to_be_visible()
    discharge = page.get_by_role("button", name="Discharge")
    expect(discharge).to_be_disabled()
    expect(page.get_by_text("Discharge is blocked")).to_be_visible()
    for _ in range(page.get_by_role("button", name="Acknowledge").count()):
        form = page.locator("#session-alerts form.ack-form").first
        # each acknowledgement is signed: the statement shown, the password typed again
        expect(form).to_contain_text("I have reviewed this alert")
        expect(form.get_by_label("Username")).to_have_value("nurse.e2e")
        form.locator("input[name=note]").fill("repeat BP 150/90 at 60 min, doctor informed")
        form.get_by_label("Password").fill(PASSWORD)
        form.get_by_role("button", name="Acknowledge").click()
        page.wait_for_load_state("networkidle")
    expect(page.locator("#session-alerts")).to_contain_text("by nurse.e2e: repeat BP 150/90")
    expect(page.locator("#session-alerts .signature").first).to_contain_text("review")
    expect(page.get_by_role("button", name="Discharge")).to_be_enabled()
    # a wrong password signs nothing
    page.locator("#sp-discharge").fill("not the password")
    page.get_by_role("button", name="Discharge").click()
    expect(page.locator("#session-alerts")).to_contain_text("nothing was signed")
    page.locator("#sp-discharge").fill(PASSWORD)
    page.get_by_role("button", name="Discharge").click()
    expect(page.get_by_text("Discharged")).to_be_visible()
    expect(page.locator("#session-alerts")).to_contain_text("responsibility")

    # two MADRS ratings: response shown
    page.goto(f"{server}/ui/patients")
    page.get_by_role("link", name="Synthetic-E2E, Eve").click()
    patient_url = page.url
    for when, value in (("2026-11-01T08:00", "3"), ("2026-11-20T08:00", "1")):
        page.get_by_role("link", name="MADRS", exact=True).click()
        page.get_by_label("Administered at (UTC)").fill(when)
        for i in range(1, 10):
            page.locator(f"#item_{i}").fill(value)
        page.locator("#item_10").fill("0")
        page.locator("#item_10").blur()
        expect(page.locator("#score")).to_contain_text("Total " + str(int(value) * 9))
        page.get_by_role("button", name="Save rating").click()
        expect(page).to_have_url(re.compile(re.escape(patient_url) + "#ratings$"))
    expect(page.locator("#ratings")).to_contain_text("27 → 9")
    expect(page.locator("#ratings")).to_contain_text(re.compile(r"response: yes"))

    # the trajectory plot renders
    img = page.get_by_alt_text(re.compile("Trajectory"))
    expect(img).to_be_visible()
    page.wait_for_function("(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    svg = page.request.get(server + img.get_attribute("src"))
    assert svg.ok and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"MADRS response" in svg.body() and b"MADRS remission" in svg.body()


def test_suicide_item_is_shown_prominently(page, server):
    login(page, server, "nurse.e2e")
    page.get_by_role("link", name="Synthetic-E2E, Eve").click()
    page.get_by_role("link", name="PHQ-9", exact=True).click()
    page.locator("#item_9").fill("2")
    page.locator("#item_9").blur()
    expect(page.locator("#score .suicide")).to_contain_text("Suicide item positive")


def test_researcher_cannot_open_an_identified_patient(page, server):
    # a patient of its own, so the test does not depend on the ones before it
    login(page, server, "nurse.e2e")
    register(page, "Ida", "Synthetic-Research", "E2E-R1")
    patient_url = page.url
    assert re.search(r"/ui/patients/\d+$", patient_url), patient_url
    page.context.clear_cookies()
    login(page, server, "research.e2e")
    expect(page.get_by_text("Synthetic-Research")).to_have_count(0)  # de-identified list
    response = page.goto(patient_url)
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_login_by_keyboard_alone_with_visible_focus(page, server):
    page.goto(f"{server}/ui/login")
    seen = []
    for _ in range(6):
        page.keyboard.press("Tab")
        seen.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        )
        if seen[-1] == "username":
            break
    assert "username" in seen
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.type("nurse.e2e")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()


def test_pages_fit_a_tablet(browser, server):
    context = browser.new_context(
        viewport={"width": 768, "height": 1024}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        login(page, server, "nurse.e2e")
        for url in ("/ui/patients", "/ui/cohort", "/ui/evidence"):
            page.goto(server + url)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (url, overflow)
    finally:
        context.close()


def test_the_session_form_shows_missing_facts_before_dosing(page, server):
    """Screening's cautions and missing facts appear where the dose is given, not only on the
    screening page: a pregnancy status nobody recorded is asked for before esketamine."""
    login(page, server, "nurse.e2e")
    register(page, "Mia", "Synthetic-Missing", "E2E-MISSING-1")
    page.get_by_label("Regimen", exact=True).select_option("esketamine-label")
    page.get_by_label("Start", exact=True).fill("2026-12-01")
    page.get_by_role("button", name="Show schedule").click()
    expect(page.locator("#screening-now")).to_contain_text("pregnancy status")
    page.get_by_role("button", name="Plan this course").click()
    expect(page.get_by_role("heading", name=re.compile("Record a session"))).to_be_visible()
    note = page.locator("#screening-now")
    expect(note).to_contain_text("missing")
    expect(note).to_contain_text("pregnancy status")
