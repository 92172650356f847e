"""In a real browser (Playwright, Debian's Chromium): a patient whose scores stay above the
expected band is flagged "Off track" with the reason (issue 21)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.api.helpers import madrs_items as _madrs
from tests.dbfixtures import PASSWORD
from tests.web.conftest import serve_fresh
from tests.web.test_e2e import login


@pytest.fixture(scope="module")
def band_server(tmp_path_factory):
    yield from serve_fresh(tmp_path_factory, [("nurse.band", "clinician", "BAND")])


def _seed(base: str) -> int:
    """Fifteen courses whose MADRS falls from 30 to 10-24 by week 1, and one that stays at 29
    and then 28; returns the last patient's id."""
    with httpx.Client(base_url=base, timeout=30) as c:
        token = c.post("/auth/token", data={"username": "nurse.band", "password": PASSWORD})
        h = {"Authorization": f"Bearer {token.json()['access_token']}"}
        pid = 0
        for k in range(16):
            p = c.post(
                "/patients",
                json={
                    "identity": {
                        "given_name": "Band",
                        "family_name": f"Synthetic-{k}",
                        "mrn": f"BAND-{k}",
                        "birth_date": "1980-05-01",
                    },
                    "sex": "female",
                    "facts": {},
                },
                headers=h,
            ).json()
            pid = p["id"]
            r = c.post(
                f"/patients/{pid}/courses",
                json={"regimen": "n2o-50-weekly", "start": "2026-01-05"},
                headers=h,
            )
            assert r.status_code == 201, r.text
            week1 = 10 + k if k < 15 else 29
            for when, total in (("2026-01-04", 30), ("2026-01-12", week1)):
                r = c.post(
                    f"/patients/{pid}/assessments",
                    json={
                        "instrument": "MADRS",
                        "responses": _madrs(total),
                        "administered_at": f"{when}T09:00:00+00:00",
                    },
                    headers=h,
                )
                assert r.status_code == 201, r.text
        return pid


def test_scores_above_the_band_are_flagged_off_track_with_the_reason(page, band_server):
    pid = _seed(band_server)
    login(page, band_server, "nurse.band")
    page.goto(f"{band_server}/ui/patients/{pid}")
    flag = page.get_by_role("alert").filter(has_text="Off track")
    expect(flag).to_be_visible()
    expect(flag).to_contain_text("MADRS 29 at 1w is above the expected band")
    expect(page.locator("#expected table")).to_contain_text("1w")
