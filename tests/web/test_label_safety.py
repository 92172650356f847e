"""The label in the treatment room, in a real browser: the override a contraindicated agent needs
(course planning and session form) and the note a discharge-blocking alert needs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.dbfixtures import PASSWORD
from tests.web.test_e2e import login, register


def _patient_with_pneumothorax(page, server) -> None:
    login(page, server, "nurse.e2e")
    register(page, "Otto", "Synthetic-Override", "E2E-OVR", born="1979-02-03")
    page.get_by_text("Screening facts").click()
    page.get_by_label("Vitamin B12").select_option("normal")
    page.get_by_label("Pregnant").select_option("no")
    page.get_by_label("Current opioid use").select_option("no")
    page.get_by_label("Systolic BP (mmHg)").fill("124")
    page.get_by_label("Diastolic BP (mmHg)").fill("80")
    page.get_by_label("Conditions (one per line)").fill("pneumothorax")
    with page.expect_navigation():  # the save answers HX-Refresh: wait for the new page
        page.get_by_role("button", name="Save facts").click()
    expect(page.get_by_label("Conditions (one per line)")).to_have_value(re.compile("pneumothorax"))


def test_contraindicated_agent_needs_an_override_and_blocking_alerts_need_a_note(page, server):
    _patient_with_pneumothorax(page, server)
    patient_url = page.url

    # planning N2O: the override field appears with the contraindication and its source
    slot = page.locator("#override-slot")
    page.get_by_label("Regimen", exact=True).select_option("esketamine-label")
    expect(slot.get_by_label(re.compile("Reason for giving"))).to_have_count(0)
    page.get_by_label("Regimen", exact=True).select_option("n2o-50-single")
    reason = slot.get_by_label("Reason for giving n2o despite the contraindication (required)")
    expect(reason).to_be_visible()
    expect(slot).to_contain_text("pneumothorax")
    expect(slot.locator(".src").first).to_contain_text(re.compile(r"\[\w"))

    # planning without a reason is refused, naming the field
    page.get_by_role("button", name="Plan this course").click()
    expect(page.locator("#plan .error")).to_contain_text("override_reason")
    reason = slot.get_by_label("Reason for giving n2o despite the contraindication (required)")
    reason.fill("pneumothorax drained and resolved; chest X-ray clear, anaesthetist agrees")
    page.get_by_role("button", name="Plan this course").click()
    expect(page.get_by_role("heading", name=re.compile("Record a session"))).to_be_visible()

    # the session form asks again (screening is computed now), with the reasons
    session_slot = page.locator("#override-slot")
    expect(session_slot).to_contain_text("pneumothorax")
    started = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Start (UTC)").fill(started)
    page.get_by_label("Systolic before (mmHg)").fill("122")
    page.get_by_label("Diastolic before (mmHg)").fill("78")
    page.get_by_label("Observation after dosing (min)").fill("30")
    page.get_by_label("Dissociation not yet resolved").check()
    page.get_by_role("button", name="Save session").click()
    expect(page.locator("#submit-msg .error")).to_contain_text("override_reason")
    session_slot.get_by_label(re.compile("Reason for giving n2o")).fill(
        "second session under the same specialist review"
    )
    page.get_by_role("button", name="Save session").click()
    expect(page.get_by_role("heading", name="Given although contraindicated")).to_be_visible()
    expect(page.locator("section.override")).to_contain_text("same specialist review")

    # the unresolved dissociation blocks discharge; acknowledging needs a note
    alert = page.locator(".alert", has_text="Not resolved: dissociation")
    note = alert.get_by_label("What was done (required)")
    expect(note).to_be_visible()
    alert.get_by_label("Password").fill(PASSWORD)
    alert.get_by_role("button", name="Acknowledge").click()
    assert note.evaluate("el => el.validity.valueMissing")  # the browser asks for the note
    expect(alert).not_to_contain_text("Acknowledged")
    note.fill("   ")  # blank: the server refuses it too
    alert.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".alert", has_text="Not resolved").locator(".error")).to_contain_text(
        "note"
    )
    expect(page.get_by_role("button", name="Discharge")).to_be_disabled()
    alert = page.locator(".alert", has_text="Not resolved: dissociation")
    alert.get_by_label("What was done (required)").fill("CADSS repeated: resolved at 40 min")
    alert.get_by_label("Password").fill(PASSWORD)
    alert.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#session-alerts")).to_contain_text(
        "by nurse.e2e: CADSS repeated: resolved at 40 min"
    )
    page.locator("#sp-discharge").fill(PASSWORD)
    page.get_by_role("button", name="Discharge").click()
    expect(page.get_by_text("Discharged")).to_be_visible()

    # the course shows its override on the patient page
    page.goto(patient_url)
    expect(page.locator("li", has_text="n2o-50-single")).to_contain_text(
        "planned although contraindicated"
    )
    expect(page.locator("li", has_text="n2o-50-single")).to_contain_text("chest X-ray clear")


def test_esketamine_form_asks_for_the_40_minute_reading(page, server):
    login(page, server, "nurse.e2e")
    page.get_by_role("link", name="Synthetic-Override, Otto").click()
    page.get_by_label("Regimen", exact=True).select_option("esketamine-label")
    page.get_by_role("button", name="Plan this course").click()
    expect(page.get_by_role("heading", name=re.compile("Record a session"))).to_be_visible()
    expect(page.locator("#override-slot")).to_be_empty()  # esketamine is not contraindicated
    field = page.get_by_label("Reading after dosing taken at (min after dosing)")
    expect(field).to_be_visible()
    expect(page.locator("#bp-post-min-help")).to_contain_text("40 min after dosing")
    expect(page.locator("#bp-post-min-help")).to_contain_text("spravato-hcp-dosing")
    # no reading after dosing yet: the live alerts say it blocks discharge
    page.get_by_label("Dose (mg)").fill("112")
    page.get_by_label("Systolic before (mmHg)").fill("128")
    page.get_by_label("Diastolic before (mmHg)").fill("80")
    page.get_by_label("Diastolic before (mmHg)").blur()
    live = page.locator("#live-alerts")
    expect(live).to_contain_text("No blood pressure recorded after dosing")
    expect(live).to_contain_text("112 mg is not a labelled dose")
    expect(live).to_contain_text("Discharge not before")
