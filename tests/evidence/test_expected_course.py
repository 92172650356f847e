"""The trials' expected band for a patient (issue 21): which trial arms give a regimen, the log
ratio of means by hand from the cited numbers, coverage in simulation, and pooling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raad.evidence.expected_course import ONE_ARM, ArmSeries, arm_series, band_at, log_ratio
from raad.knowledge.treatment import regimens
from raad.knowledge.trials import trial_base

# Guimaraes 2021 abstract (PMID 33605397): N2O 50% twice weekly, HAM-D17 baseline 22.58 +/- 3.83,
# week 4 5.92 +/- 4.08, n = 12 (knowledge/trials.yaml)
M0, S0, MT, ST, N = 22.58, 3.83, 5.92, 4.08, 12


def test_the_twice_weekly_regimen_takes_the_guimaraes_arm_and_no_other():
    trials = trial_base().trials
    got = arm_series(trials, regimens()["n2o-50-twice-weekly"], "HAMD-17")
    assert [(s.trial, s.arm) for s in got] == [("guimaraes2021", "n2o-50")]
    assert got[0].baseline == (M0, S0, N) and got[0].later == {"4w": (MT, ST, N)}
    for other in ("n2o-50-weekly", "n2o-50-single", "n2o-25-weekly"):
        assert arm_series(trials, regimens()[other], "HAMD-17") == [], other
    assert arm_series(trials, regimens()["n2o-50-twice-weekly"], "MADRS") == []


def test_log_ratio_by_hand():
    yi, vi = log_ratio((M0, S0, N), (MT, ST, N))
    assert yi == pytest.approx(math.log(5.92 / 22.58), abs=1e-15)
    hand = 4.08**2 / (12 * 5.92**2) + 3.83**2 / (12 * 22.58**2)  # = 0.03963 + 0.00240
    assert vi == pytest.approx(hand, rel=1e-14)
    with pytest.raises(ValueError):
        log_ratio((0.0, 1.0, 5), (1.0, 1.0, 5))


def test_one_arm_band_centres_on_the_arm_ratio_and_says_tau2_is_unknown():
    series = [ArmSeries("g", "G", "a", "HAMD-17", (M0, S0, N), {"4w": (MT, ST, N)}, ("src",))]
    b = band_at(series, "4w", baseline=M0)
    assert b["centre"] == pytest.approx(MT, rel=1e-12)  # a patient at the arm's baseline
    assert b["lower"] < MT < b["upper"] and b["tau2"] == 0 and b["k"] == 1
    assert ONE_ARM in b["notes"]
    doubled = band_at(series, "4w", baseline=2 * M0)  # proportional to the baseline
    assert doubled["upper"] == pytest.approx(2 * b["upper"], rel=1e-12)
    assert band_at(series, "2w", baseline=M0) is None


def test_two_identical_arms_halve_the_variance_of_the_mean():
    arm = ((M0, S0, N), {"4w": (MT, ST, N)})
    one = band_at([ArmSeries("a", "A", "x", "HAMD-17", *arm)], "4w", M0)
    two = band_at(
        [ArmSeries("a", "A", "x", "HAMD-17", *arm), ArmSeries("b", "B", "x", "HAMD-17", *arm)],
        "4w",
        M0,
    )
    assert two["tau2"] == pytest.approx(0, abs=1e-10) and two["k"] == 2
    assert two["se"] == pytest.approx(one["se"] / math.sqrt(2), rel=1e-6)
    assert two["upper"] < one["upper"]


def test_heterogeneous_arms_widen_the_band():
    far = [
        ArmSeries("a", "A", "x", "HAMD-17", (22.0, 4.0, 40), {"4w": (6.0, 4.0, 40)}),
        ArmSeries("b", "B", "x", "HAMD-17", (22.0, 4.0, 40), {"4w": (16.0, 5.0, 40)}),
        ArmSeries("c", "C", "x", "HAMD-17", (22.0, 4.0, 40), {"4w": (10.0, 4.5, 40)}),
    ]
    b = band_at(far, "4w", 22.0)
    assert b["tau2"] > 0.05
    yi = np.array([math.log(6 / 22), math.log(16 / 22), math.log(10 / 22)])
    assert yi.min() < b["mu"] < yi.max()


def test_a_new_patient_is_above_the_band_no_more_often_than_nominal():
    """Simulated trials of 12 patients: baseline ~ N(22.5, 3.8), follow-up log-normal at 0.3 of
    the baseline (sigma 0.6). The off-track flag uses the upper limit: a new patient from the
    same population lies above it about 10% of the time or less (measured 6-8% for sigma
    0.3-0.9 with 3,000 trials each; the correlation taken as 0 makes the band conservative)."""
    rng = np.random.default_rng(20261130)
    above, total = 0, 1000
    for _ in range(total):
        base = rng.normal(22.5, 3.8, N)
        later = base * 0.3 * np.exp(rng.normal(0, 0.6, N) - 0.18)
        arm = ArmSeries(
            "s",
            "S",
            "x",
            "HAMD-17",
            (base.mean(), base.std(ddof=1), N),
            {"4w": (later.mean(), later.std(ddof=1), N)},
        )
        y0 = rng.normal(22.5, 3.8)
        y_new = y0 * 0.3 * math.exp(rng.normal(0, 0.6) - 0.18)
        above += y_new > band_at([arm], "4w", y0)["upper"]
    assert 0.04 <= above / total <= 0.11, above / total
