"""Maudsley Staging Method points and bands (BMC Psychiatry 2018, Table 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raad.clinical.errors import ClinicalInputError
from raad.clinical.msm import msm_score

SEVERITIES = [
    "subsyndromal",
    "mild",
    "moderate",
    "severe without psychosis",
    "severe with psychosis",
]


def test_worked_example():
    s = msm_score(
        episode_months=18,
        severity="moderate",
        failed_antidepressants=5,
        augmentation=True,
        ect=False,
    )
    assert s.points == {
        "duration": 2,
        "severity": 3,
        "antidepressant_failures": 3,
        "augmentation": 1,
        "ect": 0,
    }
    assert s.total == 9 and s.category == "moderate"
    assert s.thresholds["TRD vs non-TRD (optimal cut-off 7.5)"] is True


@pytest.mark.parametrize(
    ("months", "points"), [(0, 1), (12, 1), (12.9, 1), (13, 2), (24, 2), (25, 3)]
)
def test_duration_bands_count_completed_months(months, points):
    s = msm_score(
        episode_months=months,
        severity="mild",
        failed_antidepressants=1,
        augmentation=False,
        ect=False,
    )
    assert s.points["duration"] == points


@pytest.mark.parametrize(
    ("n", "points"), [(1, 1), (2, 1), (3, 2), (6, 3), (7, 4), (10, 4), (11, 5), (40, 5)]
)
def test_failure_bands(n, points):
    s = msm_score(
        episode_months=1, severity="mild", failed_antidepressants=n, augmentation=False, ect=False
    )
    assert s.points["antidepressant_failures"] == points


@given(
    st.floats(0, 600), st.sampled_from(SEVERITIES), st.integers(1, 30), st.booleans(), st.booleans()
)
def test_total_is_the_sum_and_in_3_to_15(months, sev, n, aug, ect):
    s = msm_score(
        episode_months=months, severity=sev, failed_antidepressants=n, augmentation=aug, ect=ect
    )
    assert s.total == sum(s.points.values()) and 3 <= s.total <= 15
    bands = {"mild": (3, 6), "moderate": (7, 10), "severe": (11, 15)}
    lo, hi = bands[s.category]
    assert lo <= s.total <= hi


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"failed_antidepressants": 0}, "failed_antidepressants"),
        ({"severity": "extreme"}, "severity"),
        ({"episode_months": -1}, "episode_months"),
        ({"ect": "yes"}, "ect"),
    ],
)
def test_bad_input(kwargs, field):
    base = {
        "episode_months": 6,
        "severity": "mild",
        "failed_antidepressants": 2,
        "augmentation": False,
        "ect": False,
    }
    with pytest.raises(ClinicalInputError) as exc:
        msm_score(**(base | kwargs))
    assert exc.value.field == field
