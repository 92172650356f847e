"""Trial design from the clinic's own data (issue 21): the correlation between visits and the
dropout come from this clinic's courses (a synthetic cohort with known values here)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.api.helpers import new_course, new_patient, post_rating
from tests.api.helpers import phq9_items as _phq9

REGIMEN = "n2o-50-single-30min"  # used by no other test module


def test_clinic_inputs_equal_the_cohorts_own_values(api, database):
    from raad.services.cohort_evidence import design_inputs_from_clinic

    rng = np.random.default_rng(9)
    week1 = rng.integers(5, 20, 16)
    week2 = np.clip(week1 + rng.integers(-4, 5, 16), 0, 27)
    for k in range(16):
        p = new_patient(api)
        new_course(api, p["id"], regimen=REGIMEN, start="2026-01-05")
        post_rating(api, p["id"], "PHQ-9", _phq9(20), "2026-01-04T09:00:00+00:00")
        post_rating(api, p["id"], "PHQ-9", _phq9(int(week1[k])), "2026-01-12T09:00:00+00:00")
        if k < 12:  # 4 of 16 not rated at week 2
            post_rating(api, p["id"], "PHQ-9", _phq9(int(week2[k])), "2026-01-19T09:00:00+00:00")
    with database.transaction(write=False) as s:
        got = design_inputs_from_clinic(s, "n2o", instrument="PHQ-9", regimen=REGIMEN)
    assert got["available"] and got["courses"] == 16
    assert got["rho"] == pytest.approx(np.corrcoef(week1[:12], week2[:12])[0, 1], rel=1e-12)
    assert got["dropout"] == 4 / 16  # rated at week 1, not at week 2 (none at 4 weeks)
    values = np.concatenate([week1, week2[:12]]).astype(float)
    assert got["sd"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)


def test_cli_design_from_clinic_names_its_source(api, database):
    from raad.cli import app

    out = CliRunner().invoke(
        app,
        [
            "pharm",
            "design",
            "--from-clinic",
            "--url",
            str(database.url),
            "--n-per-arm",
            "20",
            "--trials",
            "500",
            "--json",
        ],
    )
    if out.exit_code == 2:  # the shared database may hold too few n2o courses rated twice
        assert "from-clinic" in out.output
        return
    assert out.exit_code == 0, out.output
    inputs = {i["name"]: i for i in json.loads(out.output)["inputs"]}
    assert inputs["correlation between visits"]["source"].startswith("this clinic")
