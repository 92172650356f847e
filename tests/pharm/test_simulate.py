"""simulate(regimen, patient, times) over every regimen in regimens.yaml."""

from __future__ import annotations

import numpy as np
import pytest

from raad.knowledge.treatment import regimens
from raad.pharm import Patient, PharmInputError, simulate


@pytest.mark.parametrize("regimen", sorted(regimens()))
def test_every_regimen_simulates(regimen):
    t = np.linspace(0, 48 * 60, 97)
    s = simulate(regimen, Patient(80, 50), t, patients=20)
    assert s.agent == regimens()[regimen].agent
    for name, arr in s.curves.items():
        assert arr.shape[1] == t.size and np.all(np.isfinite(arr)) and np.all(arr >= -1e-9), name
        assert arr.max() > 0, name
    assert s.to_dict()["regimen"] == regimen


def test_weekly_ketamine_repeats_the_single_curve_a_week_later():
    t = np.array([40.0, 7 * 1440 + 40.0])
    s = simulate("ketamine-iv-weekly", times_min=t)
    assert s.curves["ketamine"][0, 1] == pytest.approx(s.curves["ketamine"][0, 0], rel=0.01)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"regimen": "nope"}, "regimen"),
        ({"patient": Patient(weight_kg=-3)}, "weight_kg"),
        ({"times_min": [np.nan]}, "times_min"),
        ({"patients": 0}, "patients"),
    ],
)
def test_bad_input(kw, field):
    args = {"regimen": "ketamine-iv-single"} | kw
    with pytest.raises(PharmInputError) as e:
        simulate(**args)
    assert e.value.field == field
