"""Test-wide settings: property tests run with a fixed seed so a run is reproducible; the
per-address login limit is lifted (every test logs in from the same address; the limit has
its own test)."""

import os

os.environ.setdefault("RAAD_LOGIN_PER_MINUTE", "1000000")

from hypothesis import settings

settings.register_profile("raad", derandomize=True, print_blob=True)
settings.load_profile("raad")

pytest_plugins = ["tests.dbfixtures"]
