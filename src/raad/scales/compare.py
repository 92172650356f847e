"""Change between two administrations and the outcome calls it supports.

Every call names the rule and its sources, and shows what the alternative definitions say,
so a disagreement between sources is visible rather than resolved silently.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import Cutoff, Instrument, Outcome
from .registry import get
from .scoring import ScaleInputError, Score


@dataclass(frozen=True)
class Call:
    """One outcome call: met (True/False) or None when it cannot be evaluated (with why)."""

    outcome: str
    met: bool | None
    rule: str
    sources: tuple[str, ...]
    why_not_evaluable: str | None = None
    alternatives: tuple[tuple[str, bool | None], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "met": self.met,
            "rule": self.rule,
            "sources": list(self.sources),
            "why_not_evaluable": self.why_not_evaluable,
            "alternatives": [{"rule": r, "met": m} for r, m in self.alternatives],
        }


@dataclass(frozen=True)
class Comparison:
    instrument: str
    baseline: float
    current: float
    change: float
    percent_change: float | None
    calls: dict[str, Call] = field(default_factory=dict)

    @property
    def response(self) -> bool | None:
        return self._met("response")

    @property
    def partial_response(self) -> bool | None:
        return self._met("partial_response")

    @property
    def remission(self) -> bool | None:
        return self._met("remission")

    @property
    def relapse(self) -> bool | None:
        return self._met("relapse")

    @property
    def mcid(self) -> bool | None:
        """Whether the improvement reaches the minimal clinically important difference."""
        return self._met("mcid")

    def _met(self, name: str) -> bool | None:
        call = self.calls.get(name)
        return None if call is None else call.met

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "baseline": self.baseline,
            "current": self.current,
            "change": self.change,
            "percent_change": self.percent_change,
            "calls": {k: v.to_dict() for k, v in self.calls.items()},
        }


def _total(instr: Instrument, value: Score | int | float, name: str) -> float:
    if isinstance(value, Score):
        if value.instrument != instr.name:
            raise ScaleInputError(name, value.instrument, f"a {instr.name} score")
        if value.total is None:
            raise ScaleInputError(
                name,
                f"incomplete (missing {', '.join(value.missing)})",
                "a complete score with a total",
            )
        return float(value.total)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy ints included
        raise ScaleInputError(name, value, f"a Score or a {instr.name} total")
    value = float(value)
    if math.isnan(value):
        raise ScaleInputError(name, value, f"a {instr.name} total (not NaN)")
    lo, hi = instr.total_range
    if not lo <= value <= hi:
        raise ScaleInputError(name, value, f"a {instr.name} total in {lo}-{hi}")
    return float(value)


def _meets(
    c: Cutoff,
    baseline: float,
    current: float,
    pct_reduction: float | None,
    history: list[float] | None,
    remission: Outcome | None,
) -> tuple[bool | None, str | None]:
    if c.requires is not None:
        return None, f"rule needs {c.requires}"
    if c.total_at_most is not None:
        return current <= c.total_at_most, None
    if c.percent_reduction_at_least is not None:
        if pct_reduction is None:
            return None, "baseline total is 0: no percentage change"
        return pct_reduction >= c.percent_reduction_at_least, None
    if c.percent_reduction_between is not None:
        if pct_reduction is None:
            return None, "baseline total is 0: no percentage change"
        lo, hi = c.percent_reduction_between
        return lo <= pct_reduction < hi, None
    if c.points is not None:
        return baseline - current >= c.points, None
    if c.total_at_least is not None:
        # relapse: a return to this level after a remission - at baseline (a course started
        # in remission, e.g. continuation treatment) or at any total recorded since
        if remission is None:
            return None, "the instrument defines no remission to relapse from"
        cut = remission.default.total_at_most
        if baseline > cut and history is None:
            return None, "needs the totals recorded between baseline and now (history=)"
        remitted = baseline <= cut or any(t <= cut for t in (history or ()))
        if not remitted:
            return False, None
        return current >= c.total_at_least, None
    raise AssertionError(f"cutoff {c.name!r} has no rule")  # the model validator forbids this


def describe(c: Cutoff) -> str:
    """The rule in words, e.g. 'total <= 7'."""
    if c.total_at_most is not None:
        return f"total <= {c.total_at_most}"
    if c.total_at_least is not None:
        return f"total >= {c.total_at_least}" + (f" ({c.requires})" if c.requires else "")
    if c.percent_reduction_at_least is not None:
        return f">= {c.percent_reduction_at_least:g}% reduction from baseline"
    if c.percent_reduction_between is not None:
        lo, hi = c.percent_reduction_between
        return f"{lo:g}% to <{hi:g}% reduction from baseline"
    return f"improvement >= {c.points:g} points"


def compare(
    instrument: Instrument | str,
    baseline: Score | int | float,
    current: Score | int | float,
    *,
    history: Sequence[Score | int | float] | None = None,
) -> Comparison:
    """Change from ``baseline`` to ``current`` with response, remission, relapse and MCID calls.

    ``history``: totals recorded between baseline and ``current`` (needed for relapse, which
    is a return to illness after a remission).
    """
    instr = get(instrument) if isinstance(instrument, str) else instrument
    b = _total(instr, baseline, "baseline")
    c = _total(instr, current, "current")
    hist = [_total(instr, h, "history") for h in history] if history is not None else None
    change = c - b
    pct_change = None if b == 0 else 100.0 * change / b
    pct_reduction = None if pct_change is None else -pct_change
    calls: dict[str, Call] = {}
    o = instr.outcomes
    for name, outcome in (
        ("response", o.response),
        ("partial_response", o.partial_response),
        ("remission", o.remission),
        ("relapse", o.relapse),
        ("mcid", o.mcid),
    ):
        if outcome is None:
            continue
        met, why = _meets(outcome.default, b, c, pct_reduction, hist, o.remission)
        alts = tuple(
            (_rule_text(a), _meets(a, b, c, pct_reduction, hist, o.remission)[0])
            for a in outcome.alternatives
        )
        calls[name] = Call(
            name,
            met,
            _rule_text(outcome.default),
            tuple(ct.source for ct in outcome.default.cite),
            why,
            alts,
        )
    return Comparison(instr.name, b, c, change, pct_change, calls)


def _rule_text(c: Cutoff) -> str:
    rule = describe(c)
    return rule if c.name == rule else f"{c.name}: {rule}"
