"""The course of an episode from dated totals: remission, recovery, relapse and recurrence.

A return of depression after a remission is a *relapse* while the remission is younger than
the recovery period and a *recurrence* (a new episode) after it; how long each must last comes
from ``knowledge/course_of_illness.yaml`` (Frank et al. 1991, with the later consensus as the
alternative). The cut-offs come from the instrument: remission is its default remission rule
(``total <= cut``) and the return of depression its default relapse rule (``total >= level``).

Durations are measured between ratings: a remission lasts from the first rating at or below
the cut-off to the latest rating of an unbroken run of them, so it is never longer than the
ratings show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from raad.knowledge.course_of_illness import CourseDefinition, load_course_of_illness

from .model import Instrument
from .registry import get
from .scoring import ScaleInputError, Score


@dataclass(frozen=True)
class Event:
    """A change of state on ``on``: remission, recovery, relapse, recurrence or
    partial_remission (a rating above the remission cut-off that is not a return of depression).
    """

    kind: str
    on: date
    total: float
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "on": self.on.isoformat(),
            "total": self.total,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class Course:
    """The states the ratings show under one definition set.

    ``status``: "ill" (not remitted), "remitting" (at or below the cut-off, not yet for the
    remission period), "remission", "partial_remission" (above the cut-off after a remission,
    below the level of a return of depression), "recovered", "relapse" or "recurrence" - the
    state after the latest rating.
    """

    instrument: str
    definition: str
    status: str
    events: tuple[Event, ...]
    sources: tuple[str, ...]
    alternatives: tuple[tuple[str, str], ...] = ()  # (definition, status) under the others
    rules: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "definition": self.definition,
            "status": self.status,
            "events": [e.to_dict() for e in self.events],
            "sources": list(self.sources),
            "alternatives": [{"definition": d, "status": s} for d, s in self.alternatives],
            "rules": dict(self.rules),
        }


def _day(when: date | datetime, name: str) -> date:
    if isinstance(when, datetime):
        return when.date()
    if isinstance(when, date):
        return when
    raise ScaleInputError(name, when, "a date or datetime")


def _total(instr: Instrument, value: Score | float, name: str) -> float:
    from .compare import _total as total_of

    return total_of(instr, value, name)


def course(
    instrument: Instrument | str,
    ratings: Sequence[tuple[date | datetime, Score | int | float]],
    *,
    definition: str | None = None,
) -> Course:
    """Follow ``ratings`` (``(when, total or Score)`` pairs, any order) through an episode.

    ``definition``: the name of a definition set in ``course_of_illness.yaml`` (default: its
    default); the states under the other sets are given in ``alternatives`` so a disagreement
    between the consensus definitions is shown.

    Raises:
        ScaleInputError: the instrument defines no remission or relapse rule, a total is out of
            range, a date is not a date, or ``definition`` is unknown.
    """
    instr = get(instrument) if isinstance(instrument, str) else instrument
    o = instr.outcomes
    if o.remission is None or o.relapse is None or o.remission.default.total_at_most is None:
        raise ScaleInputError(
            "instrument", instr.name, "an instrument with remission and relapse rules"
        )
    if o.relapse.default.total_at_least is None:
        raise ScaleInputError("instrument", instr.name, "a relapse rule on the total")
    cut = o.remission.default.total_at_most
    level = o.relapse.default.total_at_least
    known = load_course_of_illness()
    sets = {d.name: d for d in (known.default, *known.alternatives)}
    if definition is not None and definition not in sets:
        raise ScaleInputError("definition", definition, ", ".join(sets))
    chosen = sets[definition] if definition else known.default
    points = sorted(
        (
            (_day(w, f"ratings[{i}] date"), _total(instr, t, f"ratings[{i}] total"))
            for i, (w, t) in enumerate(ratings)
        ),
        key=lambda p: p[0],
    )
    status, events = _follow(points, cut, level, chosen)
    others = tuple(
        (d.name, _follow(points, cut, level, d)[0]) for d in sets.values() if d is not chosen
    )
    rules = {
        "remission": f"total <= {cut}"
        + (f" for at least {chosen.remission_min_days} days" if chosen.remission_min_days else ""),
        "recovery": f"remission lasting at least {chosen.recovery_min_months} months",
        "return of depression": f"total >= {level} after a remission",
    }
    sources = (
        *(c.source for c in chosen.cite),
        *(c.source for c in o.remission.default.cite),
        *(c.source for c in o.relapse.default.cite),
    )
    return Course(instr.name, chosen.name, status, tuple(events), sources, others, rules)


def _follow(
    points: list[tuple[date, float]], cut: int, level: int, d: CourseDefinition
) -> tuple[str, list[Event]]:
    status = "ill"
    events: list[Event] = []
    run_start: date | None = None  # first rating of the current run at or below the cut-off
    remitted = False  # this episode has remitted (relapse is possible)
    recovered = False  # the remission has lasted the recovery period (recurrence is possible)
    need = d.remission_min_days or 0
    for when, total in points:
        if total <= cut:
            run_start = run_start or when
            held = (when - run_start).days
            if not remitted and held >= need:
                remitted = True
                status = "remission"
                events.append(Event("remission", run_start, total, d.remission))
            elif not remitted:
                status = "remitting"
            elif not recovered:
                status = "remission"
            if remitted and not recovered and when >= _add_months(run_start, d.recovery_min_months):
                recovered = True
                status = "recovered"
                events.append(Event("recovery", when, total, d.recovery))
            continue
        run_start = None
        if total >= level and remitted:
            kind = "recurrence" if recovered else "relapse"
            status = kind
            events.append(Event(kind, when, total, d.recurrence if recovered else d.relapse))
            remitted = recovered = False  # a new episode (or the old one back)
        elif remitted and not recovered:
            # symptoms back, but not the illness: the remission is partial and a later return
            # is still a relapse; the recovery clock starts again
            if status != "partial_remission":
                events.append(Event("partial_remission", when, total, f"{cut} < total < {level}"))
            status = "partial_remission"
        elif recovered:
            status = "recovered"  # a rating above the cut-off after recovery, below the level
        else:
            status = "ill"
    return status, events


def _add_months(day: date, months: int) -> date:
    """``day`` plus calendar months (31 January + 1 month = 28/29 February)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - date.resolution).day
    return date(year, month, min(day.day, last))
