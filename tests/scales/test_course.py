"""Relapse and recurrence from dated ratings (Rush et al. 2006, ACNP task force: remission after
3 consecutive weeks at or below the cut-off; recovery at least 4 months after its onset; a
return before recovery is a relapse, after it a recurrence; Frank et al. 1991's concepts)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from raad import scales
from raad.scales import ScaleInputError

D0 = date(2026, 1, 5)


def on(days: int) -> date:
    return D0 + timedelta(days=days)


def kinds(c) -> list[tuple[str, date]]:
    return [(e.kind, e.on) for e in c.events]


def test_return_before_recovery_is_a_relapse():
    # MADRS: remission <= 12 (default), return of depression >= 22
    c = scales.course("MADRS", [(on(0), 30), (on(14), 10), (on(35), 9), (on(70), 28)])
    assert c.status == "relapse"
    assert kinds(c) == [("remission", on(14)), ("relapse", on(70))]
    assert c.definition == "ACNP task force 2006"
    assert "rush2006-acnp-course" in c.sources


def test_return_after_four_months_of_remission_is_a_recurrence():
    ratings = [(on(0), 30), (on(14), 10), (on(35), 8), (on(14 + 121), 6), (on(200), 30)]
    c = scales.course("MADRS", ratings)
    # onset 19 Jan 2026 + 4 months = 19 May 2026 = day 134; day 135 is the first rating after
    assert kinds(c) == [("remission", on(14)), ("recovery", on(135)), ("recurrence", on(200))]
    assert c.status == "recurrence"
    # the 6-month convention has not reached recovery by day 135: the same return is a relapse
    assert c.alternatives == (
        ("6 months in remission (Frank 1991 scheme, as reported in 2011)", "relapse"),
    )


def test_a_remission_shorter_than_three_weeks_is_not_one():
    c = scales.course("MADRS", [(on(0), 30), (on(7), 10), (on(20), 11), (on(30), 30)])
    assert c.status == "ill" and kinds(c) == []  # 13 days at <= 12, then ill again
    alt = dict(c.alternatives)
    assert alt["6 months in remission (Frank 1991 scheme, as reported in 2011)"] == "relapse"


def test_remitted_baseline_without_history_and_partial_remission():
    """MADRS 8 at baseline then 30: under the 6-month convention (no minimum remission length)
    a relapse; under ACNP one rating cannot show three weeks."""
    c = scales.course("MADRS", [(on(0), 8), (on(28), 30)])
    assert c.status == "ill"
    assert (
        dict(c.alternatives)["6 months in remission (Frank 1991 scheme, as reported in 2011)"]
        == "relapse"
    )
    c = scales.course("MADRS", [(on(0), 8), (on(21), 9), (on(28), 18), (on(40), 25)])
    assert kinds(c) == [("remission", on(0)), ("partial_remission", on(28)), ("relapse", on(40))]


def test_recovery_clock_restarts_after_a_partial_remission():
    ratings = [(on(0), 5), (on(21), 5), (on(60), 15), (on(70), 5), (on(140), 5), (on(200), 25)]
    c = scales.course("MADRS", ratings)
    # from the first onset (5 Jan) 4 months end on 5 May (day 120) and day 140 would be a
    # recovery; the partial remission on day 60 restarts the clock at day 70 (16 March), whose
    # 4 months end on 16 July (day 192): day 140 is not a recovery and day 200 is a relapse
    assert "recovery" not in [k for k, _ in kinds(c)]
    assert kinds(c)[-1] == ("relapse", on(200))


def test_order_dates_and_scores():
    s = scales.score("HAMD-17", {str(i): 0 for i in range(1, 18) if i != 16} | {"16A": 0})
    t = datetime(2026, 3, 1, 9, 30)
    c = scales.course(
        "HAMD-17", [(t + timedelta(days=21), s), (t, 4), (t - timedelta(days=30), 20)]
    )
    assert kinds(c) == [("remission", date(2026, 3, 1))]
    assert c.status == "remission"
    assert c.to_dict()["events"][0] == {
        "kind": "remission",
        "on": "2026-03-01",
        "total": 0.0,
        "rule": "remission after 3 consecutive weeks at or below the remission cut-off",
    }


def test_bad_input_names_the_field():
    with pytest.raises(ScaleInputError, match=r"ratings\[1\] total"):
        scales.course("MADRS", [(on(0), 30), (on(1), 61)])
    with pytest.raises(ScaleInputError, match=r"ratings\[0\] date"):
        scales.course("MADRS", [("2026-01-01", 30)])
    with pytest.raises(ScaleInputError, match="definition"):
        scales.course("MADRS", [(on(0), 30)], definition="Frank 1992")
    with pytest.raises(ScaleInputError, match="remission and relapse"):
        scales.course("CADSS", [(on(0), 3)])
