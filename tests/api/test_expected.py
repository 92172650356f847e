"""Each patient against the expected course (issue 21): GET /patients/{id}/expected gives the
band from the clinic's other courses, reliable change, and an off-track flag with its reason;
the patient page shows it; other sites and researchers are refused."""

from __future__ import annotations

import pytest

from tests.api.helpers import browser_as, new_course, new_patient, post_rating
from tests.api.helpers import madrs_items as _madrs
from tests.api.helpers import phq9_items as _phq9

REGIMEN = "n2o-25-single"


def _course(api, baseline: int, week1: int | None, instrument="MADRS", regimen=REGIMEN):
    p = new_patient(api)
    new_course(api, p["id"], regimen=regimen, start="2026-01-05")
    make = _madrs if instrument == "MADRS" else _phq9
    post_rating(api, p["id"], instrument, make(baseline), "2026-01-04T09:00:00+00:00")
    if week1 is not None:
        post_rating(api, p["id"], instrument, make(week1), "2026-01-12T09:00:00+00:00")
    return p


def test_a_patient_above_the_band_is_off_track_with_the_reason(api):
    for k in range(15):  # others: 30 -> 10..24 at week 1
        _course(api, 30, 10 + k)
    high = _course(api, 30, 29)
    usual = _course(api, 30, 16)
    r = api.client.get(f"/patients/{high['id']}/expected", headers=api.h("clinician"))
    assert r.status_code == 200, r.text
    e = r.json()
    week1 = next(b for b in e["band"] if b["time"] == "1w")
    assert week1["courses"] >= 15 and week1["upper"] < 29
    assert e["off_track"] is True
    assert "above the expected band" in e["reasons"][0] and "29 at 1w" in e["reasons"][0]
    assert e["trial_band"]["available"] is False
    ok = api.client.get(f"/patients/{usual['id']}/expected", headers=api.h("clinician")).json()
    assert ok["off_track"] is False and ok["reasons"] == []
    web = browser_as(api, "clinician")
    page = web.get(f"/ui/patients/{high['id']}")
    assert page.status_code == 200
    assert "Off track" in page.text and "above the expected band" in page.text
    svg = web.get(f"/ui/patients/{high['id']}/trajectory.svg")
    assert svg.status_code == 200 and "expected band (this clinic)" in svg.text


def test_reliable_deterioration_is_off_track(api):
    p = _course(api, 8, 18, instrument="PHQ-9", regimen="n2o-50-single")
    e = api.client.get(f"/patients/{p['id']}/expected", headers=api.h("clinician")).json()
    assert e["reliable_change"]["status"] == "reliable deterioration"
    assert e["off_track"] is True and "reliable deterioration" in e["reasons"][-1]


def test_other_sites_and_researchers_are_refused(api):
    p = _course(api, 30, 20)
    for role in ("other_clinician", "researcher"):
        r = api.client.get(f"/patients/{p['id']}/expected", headers=api.h(role))
        assert r.status_code == 403, (role, r.text)
    assert (
        api.client.get("/patients/999999999/expected", headers=api.h("clinician")).status_code
        == 404
    )


def test_reliable_change_rates_by_regimen_and_clinician(api, database):
    """PHQ-9 courses (threshold 7.58 points): 11 improve 20 -> 4 (reliably; remission rule
    met), 1 stays: by regimen and, for admins, by the planning clinician."""
    from raad.services.cohort_evidence import reliable_rates

    for k in range(12):
        _course(api, 20, 4 if k < 11 else 19, instrument="PHQ-9", regimen="n2o-50-twice-weekly")
    with database.transaction(write=False) as s:
        mine = reliable_rates(s, api.world.clinician)
        admin = reliable_rates(s, api.world.admin)
    row = next(
        r for r in mine if r["regimen"] == "n2o-50-twice-weekly" and r["instrument"] == "PHQ-9"
    )
    assert (row["courses"], row["improved"], row["improved_rate"]) == (12, 11, 11 / 12)
    assert row["clinician"] == "all clinicians" and row["deteriorated"] == 0
    assert row["recovered"] == 11
    who = api.world.usernames["clinician"]
    assert any(r["clinician"] == who for r in admin)
    assert not any(r["clinician"] == who for r in mine)  # only admins see it by clinician
    page = browser_as(api, "clinician").get("/ui/cohort")
    assert page.status_code == 200 and "Reliably improved" in page.text


def _hamd17(total: int) -> dict[str, int]:
    """HAM-D17 answers adding up to ``total``, each item within its own range."""
    from raad.scales import get

    # item 16 is answered as one of its variants (16A: rated by history)
    key = {"16": "16A"}
    items = {key.get(i.id, i.id): 0 for i in get("HAMD-17").items}
    maxima = {key.get(i.id, i.id): i.max for i in get("HAMD-17").items}
    left = total
    while left:
        for k in items:
            if left and items[k] < maxima[k]:
                items[k] += 1
                left -= 1
    return items


def _hamd_course(api, baseline: int, week4: int):
    p = new_patient(api)
    new_course(api, p["id"], regimen="n2o-50-twice-weekly", start="2026-02-02")
    post_rating(api, p["id"], "HAMD-17", _hamd17(baseline), "2026-02-01T09:00:00+00:00")
    post_rating(api, p["id"], "HAMD-17", _hamd17(week4), "2026-03-02T09:00:00+00:00")
    return p


def test_the_trials_band_flags_a_patient_above_it_with_its_source(api):
    """n2o-50-twice-weekly is the regimen of Guimaraes 2021 (HAM-D17 22.58 -> 5.92 at week 4,
    SD 4.08, n = 12): a patient at 24 who is at 20 on day 28 is above the trials' band (upper
    about 24/22.58 x 13.7 = 14.6); one at 6 is not."""
    high = _hamd_course(api, 24, 20)
    e = api.client.get(f"/patients/{high['id']}/expected", headers=api.h("clinician")).json()
    tb = e["trial_band"]
    assert tb["available"] is True
    (point,) = tb["points"]
    assert point["time"] == "4w" and point["day"] == 28 and point["k"] == 1
    assert point["centre"] == pytest.approx(24 * 5.92 / 22.58, rel=1e-9)
    assert 12 < point["upper"] < 17 and point["lower"] < point["centre"]
    assert "guimaraes2021-abstract" in point["sources"]
    assert e["off_track"] is True
    assert any(
        "above the trials' expected band" in r and "Guimaraes 2021" in r for r in e["reasons"]
    )
    low = _hamd_course(api, 24, 6)
    ok = api.client.get(f"/patients/{low['id']}/expected", headers=api.h("clinician")).json()
    assert ok["off_track"] is False and ok["trial_band"]["available"] is True
    web = browser_as(api, "clinician")
    page = web.get(f"/ui/patients/{high['id']}")
    assert "Expected from the trials" in page.text and "Guimaraes 2021" in page.text
    svg = web.get(f"/ui/patients/{high['id']}/trajectory.svg").text
    assert "expected band (trials)" in svg
