"""Session safety monitor: alerts from one session record and the sessions before it.

Rules and thresholds come from ``knowledge/monitoring.yaml`` (blood pressure before and after
dosing, observation time and resolution before discharge, nausea on 50% N2O, cumulative N2O
exposure) and from ``raad.scales`` (suicide items). Every alert names the facts that raised
it and its sources; alerts marked ``blocks_discharge`` must be acknowledged first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

from raad.knowledge.treatment import BpRule, agents, monitoring
from raad.scales import Score

from .errors import ClinicalInputError

Level = Literal["info", "caution", "warning", "critical"]
NAUSEA_TERMS = ("nausea", "vomiting")


@dataclass(frozen=True)
class BloodPressure:
    systolic: float
    diastolic: float

    def __post_init__(self) -> None:
        r = monitoring().plausible_ranges
        for name, value, (lo, hi) in (
            ("systolic", self.systolic, r.systolic_mmhg),
            ("diastolic", self.diastolic, r.diastolic_mmhg),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ClinicalInputError(f"blood_pressure.{name}", value, f"mmHg in {lo:g}-{hi:g}")
            if not lo <= value <= hi:
                raise ClinicalInputError(f"blood_pressure.{name}", value, f"mmHg in {lo:g}-{hi:g}")
        if self.diastolic >= self.systolic:
            raise ClinicalInputError(
                "blood_pressure",
                f"{self.systolic:g}/{self.diastolic:g}",
                "systolic above diastolic",
            )

    def __str__(self) -> str:
        return f"{self.systolic:g}/{self.diastolic:g} mmHg"


@dataclass(frozen=True)
class SessionRecord:
    """What happened at one session (times are aware UTC)."""

    agent: str
    start: datetime
    duration_min: float | None = None
    n2o_fraction: float | None = None
    dose_mg: float | None = None
    bp_pre: BloodPressure | None = None
    bp_post: BloodPressure | None = None
    observation_min: float | None = None
    adverse_events: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()  # e.g. ("dissociation",) still present at discharge
    cadss_total: float | None = None
    scores: tuple[Score, ...] = ()

    def __post_init__(self) -> None:
        if self.agent not in agents():
            raise ClinicalInputError("agent", self.agent, f"one of {', '.join(agents())}")
        if not isinstance(self.start, datetime) or self.start.tzinfo is None:
            raise ClinicalInputError("start", self.start, "an aware datetime (UTC)")
        r = monitoring().plausible_ranges
        if self.n2o_fraction is not None:
            _check("n2o_fraction", self.n2o_fraction, r.n2o_fraction)
            if self.agent != "n2o":
                raise ClinicalInputError("n2o_fraction", self.n2o_fraction, "only for agent 'n2o'")
        if self.duration_min is not None:
            _check("duration_min", self.duration_min, r.duration_min)
        if self.observation_min is not None:
            _check("observation_min", self.observation_min, (0, 24 * 60))
        if self.dose_mg is not None:
            _check("dose_mg", self.dose_mg, (0, 10_000))


def _check(name: str, value: Any, bounds: tuple[float, float]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ClinicalInputError(name, value, f"a number in {bounds[0]:g}-{bounds[1]:g}")
    if not bounds[0] <= value <= bounds[1]:
        raise ClinicalInputError(name, value, f"{bounds[0]:g}-{bounds[1]:g}")


@dataclass(frozen=True)
class Alert:
    code: str
    level: Level
    message: str
    facts: dict[str, Any]
    sources: tuple[str, ...]
    blocks_discharge: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "level": self.level,
            "message": self.message,
            "facts": self.facts,
            "sources": list(self.sources),
            "blocks_discharge": self.blocks_discharge,
        }


@dataclass(frozen=True)
class SafetyReport:
    alerts: tuple[Alert, ...] = field(default_factory=tuple)

    @property
    def discharge_blocked(self) -> bool:
        return any(a.blocks_discharge for a in self.alerts)

    def codes(self) -> list[str]:
        return [a.code for a in self.alerts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "discharge_blocked": self.discharge_blocked,
            "alerts": [a.to_dict() for a in self.alerts],
        }


def _src(rule: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.source for c in rule.cite))


def _bp_hits(rule: BpRule, bp: BloodPressure, before: BloodPressure | None) -> list[str]:
    hits = []
    if rule.systolic_above is not None and bp.systolic > rule.systolic_above:
        hits.append(f"systolic {bp.systolic:g} > {rule.systolic_above:g}")
    if rule.diastolic_above is not None and bp.diastolic > rule.diastolic_above:
        hits.append(f"diastolic {bp.diastolic:g} > {rule.diastolic_above:g}")
    if before is not None:
        if (
            rule.systolic_rise_at_least is not None
            and bp.systolic - before.systolic >= rule.systolic_rise_at_least
        ):
            hits.append(
                f"systolic rise {bp.systolic - before.systolic:g} >= {rule.systolic_rise_at_least:g}"
            )
        if (
            rule.diastolic_rise_at_least is not None
            and bp.diastolic - before.diastolic >= rule.diastolic_rise_at_least
        ):
            hits.append(
                f"diastolic rise {bp.diastolic - before.diastolic:g} >= {rule.diastolic_rise_at_least:g}"
            )
    return hits


def check_session(record: SessionRecord, history: tuple[SessionRecord, ...] = ()) -> SafetyReport:
    """Alerts for ``record``; ``history`` holds the patient's earlier sessions (any agent)."""
    mon = monitoring()
    alerts: list[Alert] = []
    bp = mon.blood_pressure
    for rule in bp.pre_dose:
        if rule.agent == record.agent and record.bp_pre is not None:
            hits = _bp_hits(rule, record.bp_pre, None)
            if hits:
                alerts.append(
                    Alert(
                        "bp-pre-dose",
                        rule.level,
                        f"Before dosing: {'; '.join(hits)}. {rule.action}",
                        {"bp_pre": str(record.bp_pre)},
                        _src(rule),
                        blocks_discharge=False,
                    )
                )
    if record.bp_pre is None and any(r.agent == record.agent for r in bp.pre_dose):
        rule = next(r for r in bp.pre_dose if r.agent == record.agent)
        alerts.append(
            Alert(
                "bp-pre-missing",
                "warning",
                "No blood pressure recorded before dosing.",
                {},
                _src(rule),
            )
        )
    for rule in bp.post_dose:
        if rule.agent == record.agent and record.bp_post is not None:
            hits = _bp_hits(rule, record.bp_post, record.bp_pre)
            if hits:
                alerts.append(
                    Alert(
                        "bp-post-dose",
                        rule.level,
                        f"After dosing: {'; '.join(hits)}. {rule.action}",
                        {
                            "bp_pre": str(record.bp_pre) if record.bp_pre else None,
                            "bp_post": str(record.bp_post),
                        },
                        _src(rule),
                        blocks_discharge=True,
                    )
                )
    alerts += _observation(record)
    alerts += _nausea_step_down(record)
    alerts += _suicide_items(record)
    if record.agent == "n2o":
        alerts += _n2o_exposure(record, history)
    return SafetyReport(tuple(alerts))


def _observation(record: SessionRecord) -> list[Alert]:
    rule = monitoring().observation_for(record.agent)
    out: list[Alert] = []
    if rule is None:
        return out
    if rule.min_minutes is not None and (
        record.observation_min is None or record.observation_min < rule.min_minutes
    ):
        seen = (
            "not recorded" if record.observation_min is None else f"{record.observation_min:g} min"
        )
        out.append(
            Alert(
                "observation-short",
                "critical",
                f"Observation {seen}; at least {rule.min_minutes:g} min are required before discharge.",
                {"observation_min": record.observation_min},
                _src(rule),
                True,
            )
        )
    pending = [u for u in record.unresolved if u in rule.until_resolved or u == "dissociation"]
    if pending:
        diss = monitoring().dissociation
        out.append(
            Alert(
                "not-resolved",
                "critical",
                f"Not resolved: {', '.join(pending)}; keep observing until resolved.",
                {"unresolved": list(pending), "cadss_total": record.cadss_total},
                tuple(dict.fromkeys((*_src(rule), *_src(diss)))),
                True,
            )
        )
    return out


def _nausea_step_down(record: SessionRecord) -> list[Alert]:
    sd = monitoring().n2o_step_down
    if record.agent != "n2o" or record.n2o_fraction is None:
        return []
    ae = {a.lower() for a in record.adverse_events}
    if record.n2o_fraction >= sd.from_fraction and ae & set(NAUSEA_TERMS):
        return [
            Alert(
                "n2o-step-down",
                "info",
                sd.action.strip(),
                {
                    "n2o_fraction": record.n2o_fraction,
                    "adverse_events": sorted(ae & set(NAUSEA_TERMS)),
                    "suggested_fraction": sd.to_fraction,
                },
                _src(sd),
            )
        ]
    return []


def _suicide_items(record: SessionRecord) -> list[Alert]:
    return score_alerts(record.scores)


def score_alerts(scores: tuple[Score, ...] | list[Score]) -> list[Alert]:
    """Alerts raised by rating scores on their own (a positive suicide item)."""
    from raad.scales import get

    out = []
    for s in scores:
        if s.suicide_flag:
            instr = get(s.instrument)
            cites = tuple(dict.fromkeys(c.source for si in instr.suicide_items for c in si.cite))
            out.append(
                Alert(
                    "suicide-item",
                    "critical",
                    f"{s.instrument}: suicide item(s) {', '.join(s.suicide_items)} positive"
                    + (f" (risk {s.risk})" if s.risk else "")
                    + "; assess suicide risk now.",
                    {
                        "instrument": s.instrument,
                        "items": {i: s.items.get(i) for i in s.suicide_items},
                    },
                    cites,
                    True,
                )
            )
    return out


def _n2o_exposure(record: SessionRecord, history: tuple[SessionRecord, ...]) -> list[Alert]:
    ex = monitoring().n2o_exposure
    cite = tuple(c.source for c in ex.cite)
    kal = tuple(c.source for c in ex.kalinox_cite)
    past = sorted(
        (h for h in history if h.agent == "n2o" and h.start < record.start), key=lambda h: h.start
    )
    missing = [i for i, h in enumerate(past) if h.duration_min is None]
    if record.duration_min is None or missing:
        return [
            Alert(
                "n2o-exposure-unknown",
                "warning",
                "Cumulative N2O exposure cannot be computed: duration missing for "
                + (
                    "this session"
                    if record.duration_min is None
                    else f"{len(missing)} earlier session(s)"
                )
                + "; it is not assumed to be short.",
                {},
                cite,
            )
        ]
    out: list[Alert] = []
    total_h = (record.duration_min + sum(h.duration_min for h in past)) / 60
    windows = {}
    for days in ex.report_windows_days:
        since = record.start - timedelta(days=days)
        recent = [h for h in past if h.start >= since]
        windows[f"sessions_last_{days}_days"] = len(recent) + 1
        windows[f"hours_last_{days}_days"] = round(
            (record.duration_min + sum(h.duration_min for h in recent)) / 60, 3
        )
    facts = {"total_hours": round(total_h, 3), **windows}
    if total_h > ex.total_hours_limit:
        out.append(
            Alert(
                "n2o-cumulative-hours",
                "warning",
                f"Cumulative N2O exposure {total_h:g} h exceeds {ex.total_hours_limit:g} h. "
                + ex.action_over_limit.strip(),
                facts,
                cite,
            )
        )
    if past:
        gap_days = (record.start - past[-1].start) / timedelta(days=1)
        if gap_days < ex.min_interval_days:
            out.append(
                Alert(
                    "n2o-interval",
                    "warning",
                    f"{gap_days:.1f} days since the previous N2O session (< {ex.min_interval_days:g}). "
                    + ex.action_over_limit.strip(),
                    {**facts, "days_since_previous": round(gap_days, 2)},
                    cite,
                )
            )
    if record.duration_min > ex.continuous_minutes_limit:
        out.append(
            Alert(
                "n2o-continuous",
                "warning",
                f"Continuous inhalation {record.duration_min:g} min exceeds {ex.continuous_minutes_limit:g} min.",
                {"duration_min": record.duration_min},
                kal,
            )
        )
    days = sorted(
        {h.start.astimezone(UTC).date() for h in past} | {record.start.astimezone(UTC).date()}
    )
    run = 1
    for a, b in pairwise(days):
        run = run + 1 if (b - a).days == 1 else 1
    if run > ex.consecutive_days_limit:
        out.append(
            Alert(
                "n2o-consecutive-days",
                "warning",
                f"N2O on {run} consecutive days exceeds {ex.consecutive_days_limit}.",
                {"consecutive_days": run},
                kal,
            )
        )
    return out
