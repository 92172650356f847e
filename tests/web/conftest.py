"""A real server and Debian's Chromium for the end-to-end tests; a screenshot of the page is
saved under test-artifacts/ when a test fails."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from raad.services import auth
from raad.store import Database
from raad.store.migrate import upgrade
from tests.dbfixtures import PASSWORD
from tests.serving import start_server

CHROMIUM = os.environ.get("RAAD_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def serve_fresh(tmp_path_factory, users: list[tuple[str, str, str | None]], setup=None):
    """A server on a new SQLite database with ``users`` (name, role, site), and whatever
    ``setup(session)`` writes before it starts; yields its base URL and stops it afterwards."""
    path = tmp_path_factory.mktemp("web") / "raad.db"
    url = f"sqlite:///{path}"
    db = Database(url)
    upgrade(db)
    with db.transaction() as s:
        for name, role, site in users:
            auth.create_user(s, name, PASSWORD, role, site)
        if setup is not None:
            s.flush()
            setup(s)
    db.dispose()
    proc, base = start_server(url, quiet=False, timeout=30)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve_fresh(
        tmp_path_factory,
        [
            ("nurse.e2e", "clinician", "E2E"),
            ("research.e2e", "researcher", None),
            ("admin.e2e", "admin", None),
        ],
    )


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
