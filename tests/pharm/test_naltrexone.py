"""Naltrexone mu-opioid blockade against the PET data it comes from."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

from raad.pharm import mu_blockade, mu_blockade_after
from raad.pharm.errors import PharmInputError
from raad.pharm.naltrexone import hours_until_below
from raad.pharm.params import pharmacology

NB = pharmacology().naltrexone_mu_blockade


def test_hyperbola_values_computed_in_the_notes():
    # research/pharmacology.md 5.2: 1 mg 15%, 3 mg 35%, 12.5 mg 69%, 50 mg 90%, 100 mg 95%
    got = np.round(100 * mu_blockade([1, 3, 12.5, 50, 100])).tolist()
    assert got == [15, 35, 69, 90, 95]


def test_ed50_is_what_the_pet_points_give():
    """Refit dose/(dose+ED50) to the Rabiner 2011 PET points (Troestheim 2022 Table 1)."""
    d, b = np.array(NB.pet_points).T
    fit = least_squares(lambda e: d / (d + e[0]) - b / 100, x0=[3.0]).x[0]
    assert abs(fit - NB.ed50_mg) / NB.ed50_mg < 0.15


def test_steady_state_50mg_within_two_sd_of_weerts():
    ss = NB.steady_state_50mg
    assert abs(100 * float(mu_blockade(50)) - ss.mean_percent) < 2 * ss.sd_percent


def test_decline_after_8_hours_brackets_both_half_times():
    out = mu_blockade_after(50, [0, 8, 80, 116])
    assert out["fast"][1] == out["slow"][1] == pytest.approx(float(mu_blockade(50)))
    assert out["fast"][2] == pytest.approx(out["fast"][1] / 2)  # 72 h after the 8 h window
    assert out["slow"][3] == pytest.approx(out["slow"][1] / 2)  # 108 h
    fast, slow = hours_until_below(50, 0.5)
    assert 8 < fast < slow


def test_bad_input():
    with pytest.raises(PharmInputError):
        mu_blockade(-1)
    with pytest.raises(PharmInputError):
        hours_until_below(50, 1.5)
    with pytest.raises(PharmInputError):
        mu_blockade_after(50, [-1])


# --- dose histories, the ketamine start, plasma curves ---------------------------------

from raad.pharm.naltrexone import (  # noqa: E402
    bateman_constants,
    daily_history,
    ketamine_start,
    mu_blockade_history,
    plasma,
)


def test_history_of_one_dose_is_the_single_dose_curve():
    h = np.linspace(0, 300, 61)
    one = mu_blockade_history([(0.0, 50.0)], h)
    ref = mu_blockade_after(50, h)
    np.testing.assert_allclose(one["fast"], ref["fast"])
    np.testing.assert_allclose(one["slow"], ref["slow"])


def test_every_second_day_brackets_the_swiss_label():
    """Swiss Fachinformation: with 50 mg every second day, 70-80% of receptors are still
    blocked 48 h after a dose. raad's fast-slow band must overlap it."""
    lo, hi = NB.every_second_day_50mg_at_48h_percent
    hist = [(-48.0 * i, 50.0) for i in range(10)]
    b = mu_blockade_history(hist, [48.0])
    fast, slow = 100 * b["fast"][0], 100 * b["slow"][0]
    assert fast <= hi and slow >= lo


def test_daily_50mg_within_two_sd_of_weerts():
    """Weerts 2008: 50 mg/day (PET on days 15-19) -> 94.9 +/- 4.9% mu blockade."""
    b = mu_blockade_history(daily_history(50, 15), [2.0])
    ss = NB.steady_state_50mg
    for k in ("fast", "slow"):
        assert abs(100 * b[k][0] - ss.mean_percent) < 2 * ss.sd_percent


def test_ketamine_start_moves_with_threshold_and_history():
    one = ketamine_start([(0.0, 50.0)], 0.5)
    fast, slow = hours_until_below(50, 0.5)
    assert one["fast_h_after_last_dose"] == pytest.approx(fast, abs=0.25)
    assert one["slow_h_after_last_dose"] == pytest.approx(slow, abs=0.25)
    long = ketamine_start(daily_history(50, 14), 0.5)
    strict = ketamine_start(daily_history(50, 14), 0.25)
    assert long["fast_h_after_last_dose"] > one["fast_h_after_last_dose"]
    assert strict["slow_h_after_last_dose"] > long["slow_h_after_last_dose"]
    assert ketamine_start([(0.0, 1.0)], 0.5)["fast_h_after_last_dose"] == 0.0  # 15% < 50%


def test_plasma_reproduces_the_label_numbers_it_is_built_from():
    """Swiss FI: 50 mg -> naltrexone 13.3 ng/mL, 6-beta-naltrexol 108 ng/mL at 1 h;
    US label: half-lives 4 h and 13 h. Linear in dose; doses superpose."""
    h = np.linspace(0, 72, 7201)
    p = plasma([(0.0, 50.0)], h)
    assert p["naltrexone"].max() == pytest.approx(13.3, rel=1e-3)
    assert p["naltrexol"].max() == pytest.approx(108, rel=1e-3)
    assert h[p["naltrexone"].argmax()] == pytest.approx(1.0, abs=0.01)
    i24, i28 = np.searchsorted(h, [24, 28])
    assert p["naltrexone"][i28] / p["naltrexone"][i24] == pytest.approx(0.5, rel=0.01)
    half = plasma([(0.0, 25.0)], h)
    np.testing.assert_allclose(half["naltrexol"], p["naltrexol"] / 2)
    two = plasma([(0.0, 50.0), (24.0, 50.0)], h)
    assert two["naltrexol"][i28] > p["naltrexol"][i28]
    with pytest.raises(PharmInputError):
        bateman_constants(4, 10, 13.3)  # tmax beyond 1/ke has no solution


def test_history_bad_input():
    with pytest.raises(PharmInputError) as e:
        mu_blockade_history([(0.0, -5.0)], [1.0])
    assert e.value.field == "doses.mg"
    with pytest.raises(PharmInputError):
        ketamine_start([], 0.5)
    with pytest.raises(PharmInputError) as e:
        ketamine_start([(0.0, 50.0)], 1.2)
    assert e.value.field == "below"
    with pytest.raises(PharmInputError):
        daily_history(50, 0)
