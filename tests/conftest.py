"""Test-wide settings: property tests run with a fixed seed so a run is reproducible; the
per-address login limit is lifted (every test logs in from the same address) and admins may
log in without two-factor; both have their own tests."""

import os

os.environ.setdefault("RAAD_LOGIN_PER_MINUTE", "1000000")
# links that fail to open: the tests share one client address ("testclient")
os.environ.setdefault("RAAD_LINK_FAILURES_PER_MINUTE", "1000000")
# admins log in with a password alone in the tests; two-factor for admins has its own tests
os.environ.setdefault("RAAD_REQUIRE_ADMIN_MFA", "0")

from hypothesis import settings

settings.register_profile("raad", derandomize=True, print_blob=True)
settings.load_profile("raad")

pytest_plugins = ["tests.dbfixtures"]
