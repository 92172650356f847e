"""The pages work under raad's Content-Security-Policy (no inline script): a clinician's usual
pages load and htmx runs with no policy violation in Chromium's console."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.test_e2e import login, register


def test_pages_run_under_the_policy_without_violations(page, server):
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    login(page, server, "nurse.e2e")
    register(page, "Cora", "Synthetic-CSP", "CSP-1")
    page.get_by_role("link", name="PHQ-9", exact=True).click()
    page.locator("#item_9").fill("2")
    page.locator("#item_9").blur()
    expect(page.locator("#score .suicide")).to_contain_text("Suicide item positive")  # htmx ran
    page.goto(f"{server}/ui/cohort")
    assert violations == []
