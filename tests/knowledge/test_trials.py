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


def test_derived_counts_recompute_from_their_percentages():
    """Every count derived from a reported percentage ("p% of n" in its note) is the only
    count the rounding allows (raad.evidence.events_from_risk)."""
    import re

    from raad.evidence import events_from_risk
    from raad.knowledge.trials import trial_base

    seen = 0
    for t in trial_base().trials:
        for n in t.numbers:
            m = re.match(r"\s*([\d.]+)% of (\d+)", n.note or "")
            if n.kind == "count" and n.flag == "derived" and m:
                pct, of = float(m.group(1)), int(m.group(2))
                decimals = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
                assert of == n.n
                assert events_from_risk(pct, of, decimals=decimals) == (n.events,), (t.id, n)
                seen += 1
    assert seen >= 6


def test_arm_sizes_add_up_and_kim_2023_has_them():
    from raad.knowledge.trials import trial_base

    kim = next(t for t in trial_base().trials if t.id == "kim2023")
    assert [a.n_randomized for a in kim.arms] == [12, 13]
    assert any(c.source == "kim2023-abstract" for c in kim.cite)
    with pytest.raises(ValidationError, match="do not add up"):
        Trial.model_validate(
            {
                "id": "t",
                "label": "T",
                "cite": [{"source": "s"}],
                "design": "parallel",
                "population": "p",
                "n_randomized": 25,
                "arms": [{"id": "a", "n_randomized": 12}, {"id": "b", "n_randomized": 12}],
                "numbers": [],
            }
        )
