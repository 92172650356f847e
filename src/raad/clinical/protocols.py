"""Course planning: a regimen from the knowledge base turned into dated sessions.

Each planned session carries its dose (computed from weight for ketamine, by phase and age
for esketamine) and the pre-session checks the monitoring data lists for the agent; the
course carries the warnings its schedule raises (e.g. N2O sessions closer than the Entonox
SPC's 4 days), each with its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from raad.knowledge.treatment import (
    Regimen,
    adverse_events,
    monitoring,
    regimens,
    schedule_conventions,
)

from .errors import ClinicalInputError


@dataclass(frozen=True)
class Note:
    """A warning or remark with its source ids."""

    level: str
    text: str
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "text": self.text, "sources": list(self.sources)}


@dataclass(frozen=True)
class PlannedSession:
    number: int
    date: date
    phase: str | None
    dose: str
    dose_values: dict[str, Any]
    checks: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "date": self.date.isoformat(),
            "phase": self.phase,
            "dose": self.dose,
            "dose_values": self.dose_values,
            "checks": list(self.checks),
        }


@dataclass(frozen=True)
class Course:
    regimen: str
    agent: str
    label: str
    start: date
    sessions: tuple[PlannedSession, ...]
    notes: tuple[Note, ...] = ()
    adverse_events: tuple[Note, ...] = ()
    sources: tuple[str, ...] = ()
    check_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    weight_kg: float | None = None  # the weight the doses were computed for (mg/kg regimens)

    @property
    def end(self) -> date:
        return self.sessions[-1].date if self.sessions else self.start

    def to_dict(self) -> dict[str, Any]:
        return {
            "regimen": self.regimen,
            "agent": self.agent,
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "sessions": [s.to_dict() for s in self.sessions],
            "notes": [n.to_dict() for n in self.notes],
            "adverse_events": [n.to_dict() for n in self.adverse_events],
            "sources": list(self.sources),
            "check_sources": {k: list(v) for k, v in self.check_sources.items()},
            "weight_kg": self.weight_kg,
        }

    def __str__(self) -> str:
        lines = [
            f"{self.label} ({self.regimen})",
            f"{len(self.sessions)} session(s), {self.start.isoformat()} to {self.end.isoformat()}"
            f"  [sources: {', '.join(self.sources)}]",
            "",
        ]
        for s in self.sessions:
            phase = f" {s.phase}" if s.phase else ""
            lines.append(
                f"  {s.number:>2}  {s.date.isoformat()} {s.date.strftime('%a')}{phase:<14} {s.dose}"
            )
        if self.sessions and self.sessions[0].checks:
            lines += ["", "Before every session:"]
            lines += [
                f"  - {c}  [{', '.join(self.check_sources.get(c, ()))}]"
                for c in self.sessions[0].checks
            ]
        if self.adverse_events:
            lines += ["", "Adverse events reported for this regimen or agent:"]
            lines += [f"  - {n.text}  [{', '.join(n.sources)}]" for n in self.adverse_events]
        if self.notes:
            lines += ["", "Notes:"]
            lines += [f"  [{n.level}] {n.text}  [{', '.join(n.sources)}]" for n in self.notes]
        return "\n".join(lines)


def _in_range(name: str, value: float | None, bounds: tuple[float, float]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ClinicalInputError(name, value, f"a number in {bounds[0]:g}-{bounds[1]:g}")
    if not bounds[0] <= value <= bounds[1]:
        raise ClinicalInputError(name, value, f"{bounds[0]:g}-{bounds[1]:g}")


def plan_course(
    regimen: str,
    start: date,
    *,
    weight_kg: float | None = None,
    age_years: int | None = None,
    maintenance_sessions: int | None = None,
) -> Course:
    """Dated session schedule for ``regimen`` starting on ``start``."""
    table = regimens()
    if regimen not in table:
        raise ClinicalInputError("regimen", regimen, f"one of {', '.join(table)}")
    if not isinstance(start, date):
        raise ClinicalInputError("start", start, "a date (YYYY-MM-DD)")
    limits = monitoring().plausible_ranges
    _in_range("weight_kg", weight_kg, limits.weight_kg)
    _in_range("age_years", age_years, limits.age_years)
    r = table[regimen]
    _check_age(r, age_years)
    checks = monitoring().pre_session_checks.get(r.agent, ())
    check_texts = tuple(c.text.strip() for c in checks)
    check_sources = {c.text.strip(): tuple(x.source for x in c.cite) for c in checks}
    notes: list[Note] = []
    if r.phases:
        planned = maintenance_sessions or schedule_conventions().maintenance_sessions_planned
        sessions = _phased(r, start, check_texts, planned)
        if age_years is None:
            notes.append(
                Note(
                    "missing",
                    "Age not given: the label's starting dose depends on age "
                    "(65 and over start lower); confirm the regimen fits the patient.",
                    tuple(c.source for c in r.cite),
                )
            )
    elif r.agent == "naltrexone":
        sessions = _daily(r, start)
    else:
        sessions = _sessions(r, start, check_texts, weight_kg)
    if r.agent == "n2o":
        notes += _n2o_course_notes(r, sessions)
    return Course(
        regimen=r.id,
        agent=r.agent,
        label=r.label,
        start=start,
        sessions=tuple(sessions),
        notes=tuple(notes),
        adverse_events=_adverse(r),
        sources=tuple(dict.fromkeys(c.source for c in r.cite)),
        check_sources=check_sources,
        weight_kg=weight_kg,
    )


def _adverse(r: Regimen) -> tuple[Note, ...]:
    """Reported adverse events of this regimen, and of its agent (at its N2O fraction)."""
    out = []
    for e in adverse_events():
        same_regimen = e.regimen == r.id
        same_agent = e.agent == r.agent and (
            e.n2o_fraction is None or e.n2o_fraction == r.n2o_fraction
        )
        if same_regimen or same_agent:
            out.append(Note("info", e.describe(), tuple(dict.fromkeys(c.source for c in e.cite))))
    return tuple(out)


def _check_age(r: Regimen, age: int | None) -> None:
    if age is None:
        return
    if r.max_age_years is not None and age > r.max_age_years:
        alt = [
            x.id
            for x in regimens().values()
            if x.agent == r.agent and x.min_age_years and age >= x.min_age_years
        ]
        raise ClinicalInputError(
            "regimen", r.id, f"a regimen for age {age}: {', '.join(alt) or 'none'}"
        )
    if r.min_age_years is not None and age < r.min_age_years:
        alt = [
            x.id
            for x in regimens().values()
            if x.agent == r.agent and x.max_age_years and age <= x.max_age_years
        ]
        raise ClinicalInputError(
            "regimen", r.id, f"a regimen for age {age}: {', '.join(alt) or 'none'}"
        )


def _offsets(per_week: float, n: int) -> list[int]:
    """Day offsets of ``n`` sessions at ``per_week`` sessions a week."""
    if per_week == 2:
        a, b = schedule_conventions().per_week_2_offsets_days
        return [7 * (i // 2) + (a if i % 2 == 0 else b) for i in range(n)]
    step = round(7 / per_week)
    return [step * i for i in range(n)]


def _sessions(r: Regimen, start: date, checks: tuple[str, ...], weight_kg: float | None):
    n = r.sessions or 1
    offsets = _offsets(r.per_week or 1, n)
    if r.agent == "ketamine":
        if weight_kg is None:
            raise ClinicalInputError(
                "weight_kg", None, f"the patient's weight: {r.id} is dosed per kg"
            )
        mg = round(r.dose_mg_per_kg * weight_kg, 1)
        dose = f"{mg:g} mg IV ({r.dose_mg_per_kg:g} mg/kg x {weight_kg:g} kg) over {r.duration_min:g} min"
        values = {"dose_mg": mg, "dose_mg_per_kg": r.dose_mg_per_kg, "duration_min": r.duration_min}
    else:
        dose = f"{r.n2o_fraction:.0%} N2O for {r.duration_min:g} min"
        values = {"n2o_fraction": r.n2o_fraction, "duration_min": r.duration_min}
    return [
        PlannedSession(i + 1, start + timedelta(days=d), None, dose, dict(values), checks)
        for i, d in enumerate(offsets)
    ]


def _phased(r: Regimen, start: date, checks: tuple[str, ...], maintenance: int):
    sessions: list[PlannedSession] = []
    day = 0
    for phase in r.phases:
        n = int(phase.weeks * phase.per_week) if phase.weeks else maintenance
        offsets = _offsets(phase.per_week, n)
        for off in offsets:
            mg = phase.dose_mg
            if phase.first_dose_mg is not None and not sessions:
                dose, values = f"{phase.first_dose_mg} mg", {"dose_mg": [phase.first_dose_mg]}
            else:
                dose, values = " or ".join(str(x) for x in mg) + " mg", {"dose_mg": list(mg)}
            if r.mg_per_device:
                devices = "/".join(str(x // r.mg_per_device) for x in values["dose_mg"])
                dose += f" ({devices} device(s) of {r.mg_per_device} mg)"
            sessions.append(
                PlannedSession(
                    len(sessions) + 1,
                    start + timedelta(days=day + off),
                    phase.name,
                    dose,
                    values,
                    checks,
                )
            )
        if phase.weeks:
            day += 7 * phase.weeks
    return sessions


def _daily(r: Regimen, start: date):
    dose = f"{r.dose_mg:g} mg orally {r.doses_per_day} times a day for {r.days} days"
    return [
        PlannedSession(
            1,
            start,
            None,
            dose,
            {"dose_mg": r.dose_mg, "doses_per_day": r.doses_per_day, "days": r.days},
            (),
        )
    ]


def _n2o_course_notes(r: Regimen, sessions: list[PlannedSession]) -> list[Note]:
    ex = monitoring().n2o_exposure
    cite = tuple(c.source for c in ex.cite)
    notes = []
    hours = sum(s.dose_values["duration_min"] for s in sessions) / 60
    gaps = [(b.date - a.date).days for a, b in pairwise(sessions)]
    if gaps and min(gaps) < ex.min_interval_days:
        notes.append(
            Note(
                "warning",
                f"Sessions {min(gaps)} days apart, closer than every "
                f"{ex.min_interval_days:g} days: {ex.action_over_limit.strip()}",
                cite,
            )
        )
    if hours > ex.total_hours_limit:
        notes.append(
            Note(
                "warning",
                f"Planned exposure {hours:g} h exceeds {ex.total_hours_limit:g} h "
                f"in total: {ex.action_over_limit.strip()}",
                cite,
            )
        )
    if r.duration_min and r.duration_min > ex.continuous_minutes_limit:
        notes.append(
            Note(
                "warning",
                f"Continuous inhalation of {r.duration_min:g} min exceeds "
                f"{ex.continuous_minutes_limit:g} min.",
                tuple(c.source for c in ex.kalinox_cite),
            )
        )
    return notes
