"""Issue 18: an expired login lost the whole form. Now the form is kept in the tab, the login
page says so, and after logging in the same page comes back with what was typed (passwords
excepted); sending it then creates the record once."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.dbfixtures import PASSWORD
from tests.web.test_e2e import login


def test_an_expired_login_keeps_the_typed_form(page, server):
    login(page, server, "nurse.e2e")
    page.goto(f"{server}/ui/patients/new")
    page.get_by_label("Given name").fill("Kept")
    page.get_by_label("Family name").fill("Synthetic-Expiry")
    page.get_by_label("Record number").fill("EXP-1")
    page.get_by_label("Date of birth").fill("1975-03-04")
    # the session ends (here: its cookie goes, as after the idle timeout)
    page.context.clear_cookies()
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/patients/new&expired=1$"))
    expect(page.get_by_role("status")).to_contain_text("Your session ended")
    page.get_by_label("Username").fill("nurse.e2e")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ui/patients/new$"))
    expect(page.locator("p.restored")).to_contain_text("put back")
    expect(page.get_by_label("Family name")).to_have_value("Synthetic-Expiry")
    expect(page.get_by_label("Record number")).to_have_value("EXP-1")
    expect(page.get_by_label("Date of birth")).to_have_value("1975-03-04")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Synthetic-Expiry, Kept")).to_be_visible()
    # once put back, a later visit to the page starts empty
    page.goto(f"{server}/ui/patients/new")
    expect(page.get_by_label("Family name")).to_have_value("")


def test_next_never_leaves_the_app(page, server):
    page.goto(f"{server}/ui/login?next=https://example.org/x")
    page.get_by_label("Username").fill("nurse.e2e")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ui/patients$"))
