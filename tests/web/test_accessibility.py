"""Accessibility (issue 18): axe-core (vendored, tests/web/vendor/axe-core-4.10.3) finds no
WCAG 2 A or AA violation on the pages a clinician and an admin use, and at tablet and phone
widths no page scrolls sideways."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.dbfixtures import PASSWORD
from tests.web.test_e2e import login, register

AXE = (Path(__file__).parent / "vendor" / "axe-core-4.10.3" / "axe.min.js").read_text()


def _violations(page) -> list[str]:
    page.evaluate(AXE)  # evaluated through the browser's debugging protocol, not a <script>
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
        ".map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ') '"
        " + v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(' | '))"
    )
    return found


def _pages(page, server) -> list[str]:
    """Visit the usual pages; returns their URLs."""
    login(page, server, "nurse.e2e")
    tag = secrets.token_hex(3)
    register(page, "Ada", f"Synthetic-A11y-{tag}", f"A11Y-{tag}")
    patient = page.url
    page.get_by_label("Regimen", exact=True).select_option("esketamine-label")
    page.get_by_role("button", name="Plan this course").click()
    page.wait_for_url("**/sessions/new")
    new_session = page.url
    return [
        f"{server}/ui/patients",
        patient,
        new_session,
        f"{server}/ui/patients/new",
        f"{server}/ui/today",
        f"{server}/ui/cohort",
        f"{server}/ui/evidence",
        f"{server}/ui/account",
        f"{server}/ui/consent-documents",
        f"{server}/ui/self-report",
        patient + "/rate/PHQ-9",
    ]


def test_no_wcag_a_or_aa_violations(page, server):
    problems = {}
    for url in _pages(page, server):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        found = _violations(page)
        if found:
            problems[url.removeprefix(server)] = found
    page.goto(f"{server}/ui/login")
    if found := _violations(page):
        problems["/ui/login"] = found
    assert problems == {}


def test_no_wcag_a_or_aa_violations_on_the_admin_pages(page, server):
    """The admin's pages (users, the audit trail, a site's day) were not checked before: the
    end-to-end server had no admin."""
    login(page, server, "nurse.e2e")  # something for the trail and the day to show
    tag = secrets.token_hex(3)
    register(page, "Ada", f"Synthetic-Admin-{tag}", f"ADM-{tag}")
    page.context.clear_cookies()
    page.goto(f"{server}/ui/login")
    page.get_by_label("Username").fill("admin.e2e")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    problems = {}
    for path in (
        "/ui/admin/users",
        "/ui/admin/sites",
        "/ui/admin/audit",
        "/ui/admin/audit?entity=patient",
        "/ui/today?site=E2E",
        "/ui/self-report",
        "/ui/self-report?site=E2E",
        "/ui/account",
    ):
        r = page.goto(f"{server}{path}")
        assert r is not None and r.status == 200, (path, r and r.status)
        page.wait_for_load_state("networkidle")
        if found := _violations(page):
            problems[path] = found
    assert problems == {}


@pytest.mark.parametrize(("width", "height"), [(768, 1024), (390, 844)], ids=["tablet", "phone"])
def test_no_sideways_scrolling(page, server, width, height):
    urls = _pages(page, server)
    page.set_viewport_size({"width": width, "height": height})
    wide = {}
    for url in urls:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        over = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if over > 1:
            wide[url.removeprefix(server)] = over
    assert wide == {}


def test_live_alerts_stay_in_view_while_the_form_is_filled(page, server):
    """Issue 18: the live alerts appeared below the fold."""
    urls = _pages(page, server)
    page.goto(urls[2])  # the new-session form
    page.get_by_label("Dose (mg)").fill("112")
    page.get_by_label("Dose (mg)").blur()
    live = page.locator("#live-alerts")
    expect(live).to_contain_text("mg")
    expect(live).to_be_in_viewport()
