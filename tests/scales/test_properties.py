"""Properties over random valid administrations of every totalled instrument."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from raad import scales
from raad.scales.scoring import band

TOTALLED = [n for n in scales.names() if scales.get(n).total.rule != "none"]


@st.composite
def administration(draw):
    name = draw(st.sampled_from(TOTALLED))
    instr = scales.get(name)
    responses = {}
    for item in instr.items:
        value = draw(st.integers(item.min, item.max))
        key = item.id + (draw(st.sampled_from(sorted(item.variants))) if item.variants else "")
        responses[key] = value
    return instr, responses


def reference_total(instr, responses) -> int:
    """The scoring rule re-stated independently: a plain sum, or the sum of domain maxima."""
    values = {
        k.rstrip("AB") if k[:-1].isdigit() and k[-1] in "AB" else k: v for k, v in responses.items()
    }
    if instr.total.rule == "sum":
        return sum(values[i.id] for i in instr.items)
    return sum(max(values[x] for x in d.items) for d in instr.total.domains)


@settings(max_examples=300, deadline=None)
@given(administration())
def test_total_follows_the_rule_and_lands_in_one_band(case):
    instr, responses = case
    s = instr.score(responses)
    assert s.total == reference_total(instr, responses)
    lo, hi = instr.total_range
    assert lo <= s.total <= hi
    if instr.severity is None:
        assert s.severity is None
    else:
        matching = [b.label for b in instr.severity.default.bands if b.min <= s.total <= b.max]
        assert matching == [s.severity] == [band(instr, s.total)]
    flagged = {x.item for x in instr.suicide_items if s.items.get(x.item, 0) >= x.flag_at_or_above}
    assert s.suicide_flag == bool(flagged)


WITH_OUTCOMES = [n for n in TOTALLED if scales.get(n).outcomes.response is not None]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(WITH_OUTCOMES), st.data())
def test_response_and_remission_are_consistent(name, data):
    instr = scales.get(name)
    lo, hi = instr.total_range
    b = data.draw(st.integers(max(lo, 1), hi))
    c = data.draw(st.integers(lo, hi))
    cmp = scales.compare(instr, b, c)
    assert cmp.change == c - b
    assert cmp.response == ((b - c) / b >= 0.5)
    cut = instr.outcomes.remission.default.total_at_most
    assert cmp.remission == (c <= cut)
    if c < b and cmp.remission and c <= b / 2:
        assert cmp.response


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(WITH_OUTCOMES), st.data())
def test_partial_response_and_response_never_both_hold(name, data):
    instr = scales.get(name)
    lo, hi = instr.total_range
    b = data.draw(st.integers(max(lo, 1), hi))
    c = data.draw(st.integers(lo, hi))
    cmp = scales.compare(instr, b, c)
    if cmp.partial_response is not None:
        assert not (cmp.partial_response and cmp.response)
    if cmp.mcid is not None:
        assert cmp.mcid == (b - c >= instr.outcomes.mcid.default.points)
