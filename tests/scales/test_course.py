"""Relapse and recurrence from dated ratings (Rush et al. 2006, ACNP task force: remission after
3 consecutive weeks at or below the cut-off; recovery at least 4 months after its onset; a
return before recovery is a relapse, after it a recurrence; Frank et al. 1991's concepts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

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


def test_a_partial_remission_neither_ends_the_remission_nor_stops_its_clock():
    """ACNP 2006: recovery 'at least 4 months following the onset of remission, during which a
    relapse has not occurred' - a rating above the cut-off but short of a relapse (HAM-D 10)
    is a partial remission, not a relapse."""
    ratings = [
        (date(2026, 1, 5), 5),
        (date(2026, 1, 26), 5),
        (date(2026, 4, 6), 10),
        (date(2026, 4, 13), 5),
        (date(2026, 5, 11), 5),
        (date(2026, 6, 8), 20),
    ]
    c = scales.course("HAMD-17", ratings)
    assert kinds(c) == [
        ("remission", date(2026, 1, 5)),
        ("partial_remission", date(2026, 4, 6)),
        ("recovery", date(2026, 5, 11)),  # first rating <= 7 on or after 5 May
        ("recurrence", date(2026, 6, 8)),
    ]
    assert scales.course("HAMD-17", ratings[:4]).status == "remission"  # back the next week


def test_ratings_of_one_day_keep_their_order_in_time():
    early, late = datetime(2026, 1, 26, 8, 0), datetime(2026, 1, 26, 20, 0)
    ratings = [(late, 20), (early, 7), (date(2026, 1, 5), 7)]
    c = scales.course("HAMD-17", ratings)
    assert kinds(c) == [("remission", date(2026, 1, 5)), ("relapse", date(2026, 1, 26))]
    aware = [(datetime(2026, 1, 26, 9, 0, tzinfo=UTC), 20), (datetime(2026, 1, 26, 8, 0), 7)]
    assert scales.course("HAMD-17", [(date(2026, 1, 5), 7), *aware]).status == "relapse"


def test_the_status_stays_relapse_while_the_illness_lasts():
    c = scales.course("MADRS", [(on(0), 8), (on(21), 8), (on(40), 30), (on(47), 34)])
    assert c.status == "relapse" and kinds(c)[-1] == ("relapse", on(40))


def test_numpy_totals_and_malformed_ratings():
    np = pytest.importorskip("numpy")
    c = scales.course(
        "MADRS", [(on(0), np.int64(8)), (on(21), np.float64(8)), (on(40), np.int32(30))]
    )
    assert c.status == "relapse"
    assert scales.compare("MADRS", np.int64(30), np.int64(10)).change == -20
    with pytest.raises(ScaleInputError, match=r"ratings\[0\]"):
        scales.course("MADRS", [(on(0),)])
    with pytest.raises(ScaleInputError, match="list of"):
        scales.course("MADRS", {on(0): 30})
    with pytest.raises(ScaleInputError, match="not NaN"):
        scales.course("MADRS", [(on(0), float("nan"))])


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
        "total": 4.0,  # the onset rating's total
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
