"""The trial base loads, is fully cited, and refuses malformed entries."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from raad.knowledge import load_sources
from raad.knowledge.trials import Number, Trial, trial_base


def test_every_trial_in_the_issue_is_present_and_cited():
    ids = {t.id for t in trial_base().trials}
    assert {
        "nagele2015",
        "nagele2021",
        "guimaraes2021",
        "yan2022",
        "li2022",
        "kim2023",
        "myles2025",
        "williams2018",
        "yoon2019",
        "yoon2025",
        "jelen2025",
    } <= ids
    reg = load_sources()
    for t in trial_base().trials:
        assert t.cite and all(c.source in reg for c in t.cite)
        for n in t.numbers:
            assert n.cite.source in reg and n.flag in ("reported", "derived")


def test_trial_without_numbers_says_so():
    for t in trial_base().trials:
        if not t.numbers:
            assert t.notes, t.id


@pytest.mark.parametrize(
    "bad",
    [
        {
            "kind": "count",
            "outcome": "x",
            "arm": "a",
            "events": 5,
            "n": 3,
            "flag": "reported",
            "cite": {"source": "s"},
        },
        {
            "kind": "mean_difference",
            "outcome": "x",
            "contrast": ["a", "b"],
            "value": 9,
            "ci": [1, 2],
            "flag": "reported",
            "cite": {"source": "s"},
        },
        {
            "kind": "arm_mean",
            "outcome": "x",
            "arm": "a",
            "mean": 3,
            "flag": "reported",
            "cite": {"source": "s"},
        },
        {
            "kind": "count",
            "outcome": "x",
            "arm": "a",
            "events": 1,
            "n": 3,
            "flag": "guessed",
            "cite": {"source": "s"},
        },
    ],
)
def test_malformed_numbers_fail_loudly(bad):
    with pytest.raises(ValidationError):
        Number.model_validate(bad)


def test_number_pointing_at_a_missing_arm_fails():
    with pytest.raises(ValidationError, match="unknown arm"):
        Trial.model_validate(
            {
                "id": "t",
                "label": "T",
                "cite": [{"source": "s"}],
                "design": "parallel",
                "population": "p",
                "n_randomized": 2,
                "arms": [{"id": "a"}],
                "numbers": [
                    {
                        "kind": "count",
                        "outcome": "x",
                        "arm": "zz",
                        "events": 1,
                        "n": 2,
                        "flag": "reported",
                        "cite": {"source": "s"},
                    }
                ],
            }
        )


def test_numbers_the_cited_sources_report_are_recorded():
    """Issue 20: numbers the trial base's own sources report were missing: Yan 2022's
    response and remission by time point (Williams 2025, Table 1; percentages of 20, so the
    counts are derived) and Nagele 2015's odds ratio for response (its abstract)."""
    from raad.knowledge.trials import trial_base

    trials = {t.id: t for t in trial_base().trials}
    yan = [
        (n.outcome, n.time, n.events, n.flag)
        for n in trials["yan2022"].numbers
        if n.kind == "count" and n.outcome in ("response", "remission")
    ]
    assert ("response", "2w", 6, "derived") in yan and ("remission", "24h", 0, "derived") in yan
    (odds,) = [n for n in trials["nagele2015"].numbers if n.kind == "odds_ratio"]
    assert (odds.value, odds.ci) == (4.0, (0.45, 35.79)) and odds.flag == "reported"
    assert trials["myles2025"].registry == "NCT03869736"
