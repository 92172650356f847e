"""Test-wide settings: property tests run with a fixed seed so a run is reproducible."""

from hypothesis import settings

settings.register_profile("raad", derandomize=True, print_blob=True)
settings.load_profile("raad")

pytest_plugins = ["tests.dbfixtures"]
