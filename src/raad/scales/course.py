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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
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


def _moment(when: Any, name: str) -> datetime:
    """A rating's time for ordering: aware date-times in UTC, naive ones as given, a date at
    00:00 (so several ratings on one day keep their order in time)."""
    if isinstance(when, datetime):
        return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when
    if isinstance(when, date):
        return datetime.combine(when, time.min)
    raise ScaleInputError(name, when, "a date or datetime")


def _pairs(ratings: Any) -> list[tuple[Any, Any]]:
    if isinstance(ratings, Mapping | str | bytes) or not isinstance(ratings, Iterable):
        raise ScaleInputError("ratings", type(ratings).__name__, "a list of (date, total) pairs")
    out = []
    for i, r in enumerate(ratings):
        if isinstance(r, str | bytes) or not isinstance(r, Sequence) or len(r) != 2:
            raise ScaleInputError(f"ratings[{i}]", r, "a (date or datetime, total or Score) pair")
        out.append((r[0], r[1]))
    return out


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
            (_moment(w, f"ratings[{i}] date"), _total(instr, t, f"ratings[{i}] total"))
            for i, (w, t) in enumerate(_pairs(ratings))
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
    points: list[tuple[datetime, float]], cut: int, level: int, d: CourseDefinition
) -> tuple[str, list[Event]]:
    """The states along ``points`` (time order). Remission begins at the first of a run of
    ratings at or below ``cut`` that lasts the remission period; recovery is ascribed at the
    first rating at or below ``cut`` at least the recovery period after that onset, with no
    relapse in between (a rating above the cut-off but below ``level`` is a partial remission:
    it neither ends the remission nor stops its clock, as the ACNP wording has it); a rating at
    or above ``level`` after remission is a relapse, after recovery a recurrence, and starts a
    new episode."""
    status = "ill"
    events: list[Event] = []
    run: tuple[datetime, float] | None = None  # first rating of the current run at/below cut
    onset: datetime | None = None  # onset of this episode's remission
    recovered = False
    need = d.remission_min_days or 0
    for when, total in points:
        if total <= cut:
            run = run or (when, total)
            if onset is None and (when.date() - run[0].date()).days >= need:
                onset = run[0]
                events.append(Event("remission", onset.date(), run[1], d.remission))
            if onset is None:
                status = "remitting"
                continue
            if not recovered and when.date() >= _add_months(onset.date(), d.recovery_min_months):
                recovered = True
                events.append(Event("recovery", when.date(), total, d.recovery))
            status = "recovered" if recovered else "remission"
            continue
        run = None
        if total >= level and onset is not None:
            kind = "recurrence" if recovered else "relapse"
            events.append(Event(kind, when.date(), total, d.recurrence if recovered else d.relapse))
            status, onset, recovered = kind, None, False  # a new episode (or the old one back)
        elif onset is not None and not recovered:
            if status != "partial_remission":
                events.append(
                    Event("partial_remission", when.date(), total, f"{cut} < total < {level}")
                )
            status = "partial_remission"
        elif status in ("relapse", "recurrence", "recovered"):
            pass  # still in the returned episode; or recovered, with a rating short of illness
        else:
            status = "ill"
    return status, events


def _add_months(day: date, months: int) -> date:
    """``day`` plus calendar months (31 January + 1 month = 28/29 February)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - date.resolution).day
    return date(year, month, min(day.day, last))
