"""The expected-course band (raad.services.expected): an empirical 80% prediction band from
other courses' follow-up/baseline ratios covers a new patient's score about 80% of the time."""

from __future__ import annotations

import numpy as np

from raad.services.expected import BAND, band_from_ratios


def test_band_covers_at_its_nominal_rate():
    rng = np.random.default_rng(2)
    covered, trials = 0, 2000
    for _ in range(trials):
        ratios = np.exp(rng.normal(-0.4, 0.3, 60))  # 60 other courses
        baseline = 30.0
        lo, hi = band_from_ratios(baseline, list(ratios))
        new = baseline * np.exp(rng.normal(-0.4, 0.3))
        covered += lo <= new <= hi
    nominal = BAND[1] - BAND[0]
    # an empirical quantile band from 60 courses covers a little under nominal on average
    assert abs(covered / trials - nominal) < 0.04
