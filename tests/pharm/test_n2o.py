"""N2O uptake (Cowles 1973) and the assumption-labelled methionine-synthase model."""

from __future__ import annotations

import numpy as np
import pytest

from raad.knowledge.treatment import monitoring
from raad.pharm import PharmInputError, simulate_course
from raad.pharm.n2o import activity, cowles_explicit, ms_rates, uptake
from raad.pharm.params import pharmacology

# Cowles, Borgstedt & Gillies 1973, Comput Biol Med 3:385, Table 4 (diethyl ether, 12%
# inspired, 10 min, explicit scheme with 0.1 min steps), as checked by simva
# tests/testthat/test_simva.R (tolerance 5e-2): lung, VRG, muscle, fat, mixed venous.
TABLE4 = [
    ({}, (1.73, 1.48, 0.28, 0.08, 1.23)),  # row 1, normal
    ({"ventilation_factor": 2.0}, (3.11, 2.69, 0.51, 0.14, 2.23)),  # row 2
    ({"cardiac_output_factor": 0.5}, (2.24, 1.59, 0.20, 0.05, 1.30)),  # row 3
]


@pytest.mark.parametrize(("factors", "expected"), TABLE4)
def test_cowles_table4(factors, expected):
    got = cowles_explicit(12.0, 10.0, 0.1, agent="diethyl_ether", **factors)
    vals = [got[k] for k in ("lung", "vrg", "mus", "fat", "cv")]
    # published to 2 decimals: within 2% or 0.01 (rounding), per value
    np.testing.assert_allclose(vals, expected, rtol=0.02, atol=0.01)


def test_exact_solution_agrees_with_cowles_scheme_for_n2o():
    fine = cowles_explicit(0.5, 10.0, 0.001)
    exact = uptake([(0, 600, 0.5)], [10.0])[0]
    np.testing.assert_allclose(exact, [fine[k] for k in ("lung", "vrg", "mus", "fat")], rtol=1e-3)


def test_n2o_curves_match_the_independent_computation():
    # research/pharmacology.md 3.2 (computed there with a separate re-implementation):
    # FA/FI 0.50/0.77/0.86/0.92/0.96 at 1/5/10/30/60 min; VRG/FI 0.60/0.80/0.92/0.95 at 5-60 min;
    # after 60 min and stopping, alveolar 47/34/20/11/5% and VRG 88/72/38/17/6% at +1/2/5/10/30 min.
    p = uptake([(0, 60, 0.5)], [1, 5, 10, 30, 60])
    np.testing.assert_allclose(p[:, 0] / 0.5, [0.50, 0.77, 0.86, 0.92, 0.96], atol=0.01)
    np.testing.assert_allclose(p[1:, 1] / 0.5, [0.60, 0.80, 0.92, 0.95], atol=0.01)
    w = uptake([(0, 60, 0.5)], 60 + np.array([0, 1, 2, 5, 10, 30.0]))
    np.testing.assert_allclose(100 * w[1:, 0] / w[0, 0], [47, 34, 20, 11, 5], atol=1.0)
    np.testing.assert_allclose(100 * w[1:, 1] / w[0, 1], [88, 72, 38, 17, 6], atol=1.0)


def test_uptake_is_linear_in_fraction_and_positive():
    t = np.linspace(0, 300, 301)
    a, b = uptake([(0, 60, 0.25)], t), uptake([(0, 60, 0.5)], t)
    np.testing.assert_allclose(2 * a, b, rtol=1e-10, atol=1e-14)
    assert np.all(b >= -1e-12) and np.all(b <= 0.5 + 1e-12)


def test_ms_rates_reproduce_the_rat_data_they_come_from():
    """J Clin Invest 1981;67:1270 (rat): 50% N2O -> 70% inhibition within 1 h; 72 h after
    stopping, activity 80% of control (from 30%)."""
    ki, kr, pref = ms_rates()
    t = np.linspace(0, 60, 601)
    e = activity(t, np.full_like(t, pref), np.array([ki]), np.array([0.0]), pref)[0]
    assert e[-1] == pytest.approx(0.30, abs=1e-3)
    t2 = np.linspace(0, 72 * 60, 2001)
    ms = pharmacology().methionine_synthase
    rec = activity(t2, np.zeros_like(t2), np.array([ki]), np.array([kr]), pref)
    # starting from 1: stays 1 without N2O; from 0.3 the deficit 0.7 decays to 0.2 in 72 h
    assert rec[0, -1] == pytest.approx(1.0)
    assert 1 - 0.7 * np.exp(-kr * 72 * 60) == pytest.approx(ms.recovered_activity)
    assert ms.status == "assumption"


def test_course_25_percent_spares_more_enzyme_in_every_scenario():
    r50 = simulate_course("n2o-50-twice-weekly")
    r25 = simulate_course("n2o-50-twice-weekly", n2o_fraction=0.25)
    assert np.all(r25.nadir > r50.nadir)
    c, lo, hi = r50.nadir_range()
    assert lo < c < hi  # the assumption range moves the conclusion, and it is shown
    assert np.all((r50.activity >= 0) & (r50.activity <= 1 + 1e-12))


def test_exposure_checks_use_the_cited_limits():
    ex = monitoring().n2o_exposure
    twice = {c["check"]: c for c in simulate_course("n2o-50-twice-weekly").checks}
    weekly = {c["check"]: c for c in simulate_course("n2o-50-weekly").checks}
    gap = "shortest interval between sessions (days)"
    assert twice[gap]["value"] < ex.min_interval_days and not twice[gap]["ok"]
    assert weekly[gap]["value"] >= ex.min_interval_days and weekly[gap]["ok"]
    assert (
        twice["total inhalation (h)"]["value"] == 8
        and twice["total inhalation (h)"]["limit"] == ex.total_hours_limit
    )


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: simulate_course("ketamine-iv-single"), "regimen"),
        (lambda: simulate_course("n2o-50-single", n2o_fraction=0.9), "n2o_fraction"),
        (lambda: uptake([(0, 60, 1.5)], [1.0]), "n2o_fraction"),
        (lambda: uptake([(0, 60, 0.5)], [-1.0]), "times_min"),
        (lambda: simulate_course("n2o-50-single", scenarios=0), "scenarios"),
    ],
)
def test_bad_input(call, field):
    with pytest.raises(PharmInputError) as e:
        call()
    assert e.value.field == field
