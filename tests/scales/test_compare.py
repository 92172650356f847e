"""Change, response, remission and relapse with their rules and sources."""

from __future__ import annotations

import pytest

from raad import scales
from raad.scales import ScaleInputError


def test_madrs_response_and_remission_with_alternatives():
    c = scales.compare("MADRS", 32, 11)
    assert c.change == -21 and c.percent_change == pytest.approx(-65.625)
    assert c.response is True and c.remission is True
    alts = dict(c.calls["remission"].alternatives)
    assert alts == {"MADRS < 10: total <= 9": False, "MADRS <= 4 (narrow): total <= 4": False}
    assert "transform3-2021" in c.calls["remission"].sources


def test_response_at_exactly_50_percent():
    assert scales.compare("HAMD-17", 24, 12).response is True
    assert scales.compare("HAMD-17", 24, 13).response is False


def test_hamd17_remission_sources_disagree_at_7():
    c = scales.compare("HAMD-17", 22, 7)
    assert c.remission is True  # <= 7 (Nagele 2015)
    assert dict(c.calls["remission"].alternatives) == {"HAM-D17 < 7: total <= 6": False}


def test_zero_baseline_has_no_percentage():
    c = scales.compare("PHQ-9", 0, 3)
    assert c.percent_change is None and c.response is None
    assert "baseline total is 0" in c.calls["response"].why_not_evaluable


def test_scores_and_totals_are_checked():
    s = scales.score("PHQ-9", {str(i): 1 for i in range(1, 10)})
    with pytest.raises(ScaleInputError, match="MADRS score"):
        scales.compare("MADRS", s, 10)
    with pytest.raises(ScaleInputError, match="0-27"):
        scales.compare("PHQ-9", 40, 3)
    incomplete = scales.score("PHQ-9", {"1": 1}, allow_incomplete=True)
    with pytest.raises(ScaleInputError, match="incomplete"):
        scales.compare("PHQ-9", 20, incomplete)
