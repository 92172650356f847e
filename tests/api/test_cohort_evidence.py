"""The clinic's outcomes as an observational stratum beside the trials (issue 21): a synthetic
cohort whose true response rate is known is recovered, missing follow-up is counted, small
groups are withheld, and nothing is pooled with the trials unless asked (labelled)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from raad.scales import compare
from raad.services.deid import MIN_CELL
from tests.api.helpers import browser_as, new_course, new_patient, post_rating
from tests.api.helpers import madrs_items as _madrs


def _cohort(api, n_respond: int, n_not: int, n_missing: int, regimen: str) -> None:
    for k in range(n_respond + n_not + n_missing):
        p = new_patient(api)
        new_course(api, p["id"], regimen=regimen, start="2026-01-05")
        post_rating(api, p["id"], "MADRS", _madrs(30), "2026-01-04T09:00:00+00:00")
        if k < n_respond:
            post_rating(api, p["id"], "MADRS", _madrs(12), "2026-01-12T09:00:00+00:00")
        elif k < n_respond + n_not:
            post_rating(api, p["id"], "MADRS", _madrs(27), "2026-01-12T09:00:00+00:00")


def test_the_clinic_stratum_recovers_a_known_response_rate(api, database):
    from raad.services.cohort_evidence import cohort_evidence

    assert compare("MADRS", 30, 12).response and not compare("MADRS", 30, 27).response
    _cohort(api, n_respond=14, n_not=7, n_missing=4, regimen="n2o-50-twice-weekly")
    _cohort(api, n_respond=3, n_not=2, n_missing=0, regimen="n2o-50-weekly")  # too few
    with database.transaction(write=False) as s:
        data = cohort_evidence(s, api.world.clinician, "n2o", sensitivity=True)
    week1 = next(x for x in data["strata"] if x["outcome"] == "response" and x["time"] == "1w")
    (clinic,) = week1["clinic"]  # the 5-course regimen is below the minimum cell size
    assert clinic["regimen"] == "n2o-50-twice-weekly"
    # 4 missing: counted, and shown as "<11" (a count below the minimum cell size)
    assert (clinic["courses"], clinic["followed"]) == (25, 21)
    assert clinic["missing_follow_up"] == f"<{MIN_CELL}"
    assert clinic["events"] == 14 and clinic["rate"] == 14 / 21
    assert [r["study"] for r in week1["trials"]] == ["Yan 2022"]
    assert "SENSITIVITY ANALYSIS" in week1["sensitivity"]["label"]
    rem = next(x for x in data["strata"] if x["outcome"] == "remission" and x["time"] == "1w")
    assert rem["clinic"][0]["events"] == f"<{MIN_CELL}" or isinstance(
        rem["clinic"][0]["events"], int
    )
    # no rating at 24 h: every course counted as missing there
    day1 = next(x for x in data["strata"] if x["outcome"] == "response" and x["time"] == "24h")
    assert day1["clinic"][0]["missing_follow_up"] == 25 and day1["clinic"][0]["rate"] is None
    page = browser_as(api, "clinician").get("/ui/evidence", params={"time": "1w"})
    assert page.status_code == 200 and "This clinic beside the trials" in page.text
    assert "This clinic: n2o-50-twice-weekly (MADRS)" in page.text and "14/21" in page.text
    changes = [c for c in data["clinic_change_scores"] if c["time"] == "1w"]
    assert changes[0]["change_mean"] == (14 * (12 - 30) + 7 * (27 - 30)) / 21


def test_cli_cohort_json_and_forest(api, database, tmp_path, monkeypatch):
    from raad.cli import app

    _cohort(api, n_respond=8, n_not=4, n_missing=1, regimen="n2o-25-weekly")
    forest = tmp_path / "cohort.svg"
    out = CliRunner().invoke(
        app,
        [
            "evidence",
            "cohort",
            "--agent",
            "n2o",
            "--url",
            str(database.url),
            "--json",
            "--forest",
            str(forest),
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    week1 = next(x for x in data["strata"] if x["outcome"] == "response" and x["time"] == "1w")
    # the command line reads every site of the database: at least this module's courses
    mine = next(c for c in week1["clinic"] if c["regimen"] == "n2o-25-weekly")
    assert mine["followed"] >= 12 and mine["missing_follow_up"] != 0
    assert "sensitivity" not in week1
    assert forest.read_text().startswith("<?xml")
