"""Reliable change (Jacobson & Truax 1991): thresholds equal the formula on the cited inputs,
classification, and instruments without an input say so."""

from __future__ import annotations

import math

import pytest

from raad.scales.reliable_change import classify, threshold


@pytest.mark.parametrize(
    ("instrument", "r", "sd"),
    [("HAMD-17", 0.89, 8.6), ("QIDS-SR16", 0.86, 4.8), ("PHQ-9", 0.799, 6.1)],
)
def test_threshold_is_the_formula_on_the_cited_inputs(instrument, r, sd):
    """1.96 x sqrt(2) x SD x sqrt(1 - r): HAM-D17 7.91 (STAR*D), QIDS-SR16 4.98, PHQ-9 7.58."""
    t = threshold(instrument)
    assert t.points == pytest.approx(1.96 * math.sqrt(2) * sd * math.sqrt(1 - r), rel=1e-12)
    assert t.sources[0] == "jacobson-truax-1991" and len(t.sources) >= 2


def test_hand_calculations():
    assert threshold("HAMD-17").points == pytest.approx(7.906, abs=5e-4)
    assert threshold("PHQ-9").points == pytest.approx(7.581, abs=5e-4)
    assert threshold("QIDS-SR16").points == pytest.approx(4.978, abs=5e-4)


def test_classification_and_disagreement_shown():
    assert classify("PHQ-9", 20, 11)["status"] == "reliable improvement"  # -9 > 7.58
    assert classify("PHQ-9", 20, 14)["status"] == "no reliable change"  # -6: IAPT's 6 only
    assert classify("PHQ-9", 10, 19)["status"] == "reliable deterioration"
    others = classify("PHQ-9", 20, 14)["threshold"]["other_criteria"]
    assert [o["points"] for o in others] == [6.0, 5.0]


def test_missing_inputs_are_said_not_guessed():
    madrs = classify("MADRS", 30, 10)
    assert madrs["status"] == "unknown" and madrs["rc"] is None
    assert "standard deviation" in madrs["threshold"]["note"]
    assert classify("HAMD-21", 30, 10)["status"] == "unknown"


def test_every_instrument_with_inputs_is_one_of_raads_scales():
    from raad.knowledge.reliable_change import reliable_change_inputs
    from raad.scales import names

    assert set(reliable_change_inputs()) <= set(names())
