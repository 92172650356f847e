"""Living evidence (issue 21): pooled answers of the trial base, what moved when a trial is
added, and the cumulative meta-analysis by publication year."""

from __future__ import annotations

import copy

import pytest

from raad.evidence import EvidenceInputError, rma
from raad.evidence.living import (
    compare_answers,
    cumulative_by_year,
    pooled_answers,
    trial_base_version,
)
from raad.evidence.pooling import as_arrays, md_rows
from raad.knowledge.trials import trial_base


def _base() -> list[dict]:
    return [t.model_dump(mode="json") for t in trial_base().trials]


def _extra_trial(md: float, ci: tuple[float, float]) -> dict:
    return {
        "id": "synthetic2026",
        "label": "Synthetic 2026",
        "cite": [{"source": "s"}],
        "design": "parallel",
        "population": "treatment-resistant depression",
        "n_randomized": 200,
        "scale": "HAMD-21",
        "arms": [
            {"id": "n2o-50", "agent": "n2o", "n2o_fraction": 0.5},
            {"id": "placebo", "control": "air"},
        ],
        "numbers": [
            {
                "kind": "mean_difference",
                "outcome": "depression",
                "time": "24h",
                "contrast": ["n2o-50", "placebo"],
                "value": md,
                "ci": list(ci),
                "flag": "reported",
                "cite": {"source": "s"},
            }
        ],
    }


def test_answers_equal_a_direct_fit():
    base = _base()
    answers = pooled_answers(base)
    rows, _ = md_rows(base, agent="n2o", fraction=None, outcome="depression", time="24h")
    yi, vi, labels = as_arrays(rows)
    res = rma(yi, vi, method="REML", test="knha")
    a = answers["n2o/depression/24h/all"]
    assert (a["k"], a["estimate"], a["ci_lb"]) == (len(rows), res.estimate, res.ci_lb)
    assert a["trials"] == sorted(labels)


def test_adding_a_trial_moves_the_estimate_and_says_so():
    before = _base()
    after = [*copy.deepcopy(before), _extra_trial(-4.0, (-5.0, -3.0))]
    assert trial_base_version(before) != trial_base_version(after)
    changes = compare_answers(pooled_answers(before), pooled_answers(after))
    moved = {c["key"]: c for c in changes}
    c = moved["n2o/depression/24h/all"]
    assert c["change"] == "moved" and c["after"]["k"] == c["before"]["k"] + 1
    assert c["difference"] == pytest.approx(c["after"]["estimate"] - c["before"]["estimate"])
    assert not c["before"]["excludes_null"] and c["after"]["excludes_null"]
    assert c["significance"] == "the CI now excludes no effect"
    assert compare_answers(pooled_answers(before), pooled_answers(before)) == []


def test_cumulative_by_year_orders_trials_by_publication():
    table = cumulative_by_year(_base(), "n2o", "24h")
    assert list(table["year"]) == sorted(table["year"])
    assert list(table["k"]) == list(range(1, len(table) + 1))
    with pytest.raises(EvidenceInputError, match="trials"):
        cumulative_by_year(_base(), "n2o", "4w")
