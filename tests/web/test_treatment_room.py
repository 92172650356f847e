"""The treatment room in a real browser (issue 18): a whole esketamine session from the form to
the REMS form's PDF (its fields read back with a PDF text extractor), and a double click on a
Save button creating one record."""

from __future__ import annotations

import io
import re
import secrets
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect
from pypdf import PdfReader

from tests.web.test_e2e import login, register


def test_an_esketamine_session_to_its_rems_form(page, server):
    login(page, server, "nurse.e2e")
    tag = secrets.token_hex(3)
    register(page, "Rhea", f"Synthetic-Rems-{tag}", f"REMS-{tag}")
    page.get_by_label("Regimen", exact=True).select_option("esketamine-label")
    page.get_by_role("button", name="Plan this course").click()
    page.wait_for_url("**/sessions/new")
    start = datetime.now(UTC) - timedelta(hours=3)
    at = lambda minutes: (start + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")  # noqa: E731
    page.get_by_label("Start (UTC)").fill(at(0))
    expect(page.get_by_label("Dose (mg)")).to_have_value("56")
    page.get_by_label("Lot number(s), comma-separated").fill("ESK-77")
    page.get_by_label("before dosing: time").fill(at(-5))
    page.get_by_label("before dosing: systolic (mmHg)").fill("126")
    page.get_by_label("before dosing: diastolic (mmHg)").fill("78")
    page.get_by_label("40 min after dosing: time").fill(at(41))
    page.get_by_label("40 min after dosing: systolic (mmHg)").fill("138")
    page.get_by_label("40 min after dosing: diastolic (mmHg)").fill("84")
    page.get_by_label("40 min after dosing: MOAA/S").select_option("4")
    page.get_by_label("Observation after dosing (min)").fill("125")
    page.get_by_role("radiogroup", name="Benzodiazepines").get_by_role(
        "radio", name="no", exact=True
    ).check()
    page.get_by_label("Monitored by (name)").fill("Nurse Rhea Test")
    page.get_by_label("Ready to leave at (UTC)").fill(at(123))
    page.get_by_role("button", name="Save session").click()
    expect(page.get_by_role("heading", name="Vital signs over the session")).to_be_visible()
    expect(page.locator("main")).to_contain_text("ESK-77")
    link = page.get_by_role("link", name="Form data (PDF)")
    pdf = page.request.get(server + link.get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    for expected in (
        f"Synthetic-Rems-{tag}",
        "ESK-77",
        "Nurse Rhea Test",
        "126/78 mmHg",
        "138/84 mmHg at 41 min",
        "123 minutes",
        "4 at 41 min",
    ):
        assert expected in text, expected


def test_a_double_click_registers_one_patient(page, server):
    login(page, server, "nurse.e2e")
    tag = secrets.token_hex(3)
    page.get_by_role("link", name="Register a patient").click()
    page.get_by_label("Given name").fill("Dee")
    page.get_by_label("Family name").fill(f"Synthetic-Double-{tag}")
    page.get_by_label("Record number").fill(f"DBL-{tag}")
    page.get_by_role("button", name="Register").dblclick()
    expect(page.get_by_role("heading", name=f"Synthetic-Double-{tag}, Dee")).to_be_visible()
    page.goto(f"{server}/ui/patients?q=Synthetic-Double-{tag}")
    rows = page.locator("#rows tr", has_text=f"Synthetic-Double-{tag}")
    expect(rows).to_have_count(1)
    assert re.search(r"1\u20131 of 1 patient\b", page.locator("#rows").inner_text())
