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
    assert alts == {
        "MADRS <= 10: total <= 10": False,
        "MADRS < 10: total <= 9": False,
        "MADRS < 9: total <= 8": False,
        "MADRS <= 7: total <= 7": False,
        "MADRS <= 4 (narrow): total <= 4": False,
    }
    assert "transform3-2021" in c.calls["remission"].sources
    # at 8 the definitions disagree: Hawley's < 9 is met, Riedel's <= 7 is not
    alts = dict(scales.compare("MADRS", 32, 8).calls["remission"].alternatives)
    assert alts["MADRS < 9: total <= 8"] is True and alts["MADRS <= 7: total <= 7"] is False


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


def test_madrs_remission_at_10_shows_the_sources_disagree():
    c = scales.compare("MADRS", 30, 10)
    alts = dict(c.calls["remission"].alternatives)
    assert c.remission is True
    assert alts["MADRS <= 10: total <= 10"] is True
    assert alts["MADRS < 10: total <= 9"] is False
    assert "daly2018-esketamine" not in c.calls["remission"].sources  # an alternative, not the rule


def test_relapse_needs_a_remission_first():
    # without the history between baseline and now relapse cannot be called
    assert scales.compare("HAMD-17", 24, 18).relapse is None
    assert "history" in scales.compare("HAMD-17", 24, 18).calls["relapse"].why_not_evaluable
    # never remitted: a high total now is not a relapse
    assert scales.compare("HAMD-17", 24, 18, history=[14, 10]).relapse is False
    # remitted (<= 7), then back to 16: relapse; 15 is not
    assert scales.compare("HAMD-17", 24, 16, history=[12, 7]).relapse is True
    assert scales.compare("HAMD-17", 24, 15, history=[12, 7]).relapse is False
    c = scales.compare("MADRS", 34, 25, history=[12])
    assert c.relapse is True  # >= 22 after MADRS <= 12
    assert dict(c.calls["relapse"].alternatives) == {
        "MADRS >= 25 with the investigator's judgement: total >= 25 "
        "(the clinician's judgement that the depression has returned)": None
    }


def test_partial_response_band_is_half_open():
    assert scales.compare("HAMD-17", 20, 14).partial_response is True  # 30%
    assert scales.compare("HAMD-17", 20, 15).partial_response is False  # 25%
    assert scales.compare("HAMD-17", 20, 10).partial_response is False  # 50% is response
    assert scales.compare("HAMD-17", 20, 10).response is True


@pytest.mark.parametrize(
    ("name", "baseline", "current", "met"),
    [
        ("PHQ-9", 18, 13, True),  # 5 points (Loewe 2004)
        ("PHQ-9", 18, 14, False),
        ("HAMD-17", 20, 17, True),  # 3 points, lower bound (Hengartner & Ploederl)
        ("HAMD-17", 20, 18, False),
        ("MADRS", 30, 27, True),
        ("MADRS", 30, 28, False),
    ],
)
def test_mcid(name, baseline, current, met):
    assert scales.compare(name, baseline, current).mcid is met


def test_madrs_mcid_estimates_disagree_and_both_are_shown():
    c = scales.compare("MADRS", 30, 28)
    assert c.mcid is False
    assert list(dict(c.calls["mcid"].alternatives).values()) == [True]  # >= 1.9 (Duru 2008)


def test_relapse_from_a_remitted_baseline_needs_no_history():
    """A course that starts in remission (continuation treatment): MADRS 8 (<= 12, remission
    in the esketamine trials) then 30 (>= 22, Montgomery 1993 via the maintenance meta-analysis)
    is a relapse; 21 is not. A baseline not in remission still needs the history."""
    assert scales.compare("MADRS", 8, 30).relapse is True
    assert scales.compare("MADRS", 8, 21).relapse is False
    assert scales.compare("MADRS", 13, 30).relapse is None
    assert scales.compare("HAMD-17", 7, 16).relapse is True
