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
