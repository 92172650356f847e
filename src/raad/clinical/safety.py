"""Session safety monitor: alerts from one session record, the course's plan and the sessions
before it.

Rules and thresholds come from ``knowledge/monitoring.yaml`` (blood pressure before and after
dosing and the post-dose reading the label asks for, observation time and resolution before
discharge, nausea on 50% N2O, cumulative N2O exposure), from ``knowledge/regimens.yaml`` (the
labelled doses of fixed-dose agents, and the course's plan: a recorded dose above it) and from
``raad.scales`` (suicide items). Every alert names the facts that raised it and its sources;
alerts marked ``blocks_discharge`` must be acknowledged (with a note) first, and
:func:`earliest_discharge` gives the first moment a session may be discharged at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

from raad.knowledge.treatment import BpRule, agents, monitoring, regimens
from raad.scales import Score

from .errors import ClinicalInputError

Level = Literal["info", "caution", "warning", "critical"]
NAUSEA_TERMS = ("nausea", "vomiting")
# Which dose fields a session of each agent takes (N2O is dosed by its fraction, ketamine by
# mg and mg/kg, the others by mg): a field an agent does not take is refused, never ignored.
DOSE_FIELDS = {
    "n2o": ("n2o_fraction",),
    "ketamine": ("dose_mg", "dose_mg_per_kg"),
    "esketamine": ("dose_mg",),
    "naltrexone": ("dose_mg",),
}


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
class VitalSigns:
    """One timed set of vital signs: ``minutes`` after dosing began (negative or 0: before
    dosing), blood pressure, heart rate (/min), SpO2 (%) and the MOAA/S sedation level (0-5).
    Any of the measurements may be missing, not all of them."""

    minutes: float
    bp: BloodPressure | None = None
    heart_rate: float | None = None
    spo2: float | None = None
    moaas: int | None = None

    def __post_init__(self) -> None:
        r = monitoring().plausible_ranges
        _check("vitals.minutes", self.minutes, r.vitals_minutes)
        if self.heart_rate is not None:
            _check("vitals.heart_rate", self.heart_rate, r.heart_rate_per_min)
        if self.spo2 is not None:
            _check("vitals.spo2", self.spo2, r.spo2_percent)
        levels = monitoring().sedation_scale.levels
        if self.moaas is not None and (isinstance(self.moaas, bool) or self.moaas not in levels):
            raise ClinicalInputError(
                "vitals.moaas", self.moaas, f"a MOAA/S level {min(levels)}-{max(levels)}"
            )
        if (self.bp, self.heart_rate, self.spo2, self.moaas) == (None, None, None, None):
            raise ClinicalInputError(
                "vitals", None, "at least one of blood pressure, heart rate, SpO2 or MOAA/S"
            )


@dataclass(frozen=True)
class SessionRecord:
    """What happened at one session (times are aware UTC)."""

    agent: str
    start: datetime
    duration_min: float | None = None
    n2o_fraction: float | None = None
    dose_mg: float | None = None
    dose_mg_per_kg: float | None = None
    bp_pre: BloodPressure | None = None
    bp_post: BloodPressure | None = None
    bp_post_min: float | None = None  # when the post-dose reading was taken, min after dosing
    observation_min: float | None = None
    adverse_events: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()  # e.g. ("dissociation",) still present at discharge
    cadss_total: float | None = None
    scores: tuple[Score, ...] = ()
    vitals: tuple[VitalSigns, ...] = ()  # the timed series, beside bp_pre and bp_post

    def pre_dose_bp(self) -> BloodPressure | None:
        """``bp_pre``, else the last reading of the series taken before dosing began."""
        if self.bp_pre is not None:
            return self.bp_pre
        before = [v for v in self.vitals if v.bp is not None and v.minutes <= 0]
        return max(before, key=lambda v: v.minutes).bp if before else None

    def post_dose_bp(self) -> list[tuple[float | None, BloodPressure]]:
        """Every blood pressure taken after dosing began, (minutes after dosing or None, BP):
        ``bp_post`` and the series' readings after the start."""
        out: list[tuple[float | None, BloodPressure]] = []
        if self.bp_post is not None:
            out.append((self.bp_post_min, self.bp_post))
        out += [(v.minutes, v.bp) for v in self.vitals if v.bp is not None and v.minutes > 0]
        return out

    def __post_init__(self) -> None:
        if self.agent not in agents():
            raise ClinicalInputError("agent", self.agent, f"one of {', '.join(agents())}")
        if not isinstance(self.start, datetime) or self.start.tzinfo is None:
            raise ClinicalInputError("start", self.start, "an aware datetime (UTC)")
        r = monitoring().plausible_ranges
        for name, bounds in (
            ("n2o_fraction", r.n2o_fraction),
            ("duration_min", r.duration_min),
            ("observation_min", r.observation_min),
            ("dose_mg", r.dose_mg),
            ("dose_mg_per_kg", r.dose_mg_per_kg),
            ("bp_post_min", r.bp_post_min),
        ):
            if getattr(self, name) is not None:
                _check(name, getattr(self, name), bounds)
        takes = DOSE_FIELDS.get(self.agent, ())
        for name in ("n2o_fraction", "dose_mg", "dose_mg_per_kg"):
            if getattr(self, name) is not None and name not in takes:
                who = [a for a, fields in DOSE_FIELDS.items() if name in fields]
                raise ClinicalInputError(
                    name,
                    getattr(self, name),
                    f"only for agent {' or '.join(repr(a) for a in who)}; "
                    f"{self.agent} is recorded by {', '.join(takes)}",
                )
        if self.bp_post_min is not None and self.bp_post is None:
            raise ClinicalInputError(
                "bp_post_min", self.bp_post_min, "only with bp_post (the reading it times)"
            )


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


@dataclass(frozen=True)
class PlannedDose:
    """What a course's plan gives for one session: the dose a recorded one is checked against.

    ``dose_mg`` holds the doses the plan allows at this session (the weight-based dose of a
    mg/kg regimen, or the choices of a label phase for a fixed-dose agent).
    """

    regimen: str
    n2o_fraction: float | None = None
    dose_mg_per_kg: float | None = None
    dose_mg: tuple[float, ...] = ()
    weight_kg: float | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def from_plan(cls, plan: dict[str, Any], session_number: int | None = None) -> PlannedDose:
        """From a stored course plan (``raad.clinical.protocols.Course.to_dict()``): with
        ``session_number`` (1-based, in the order of the course's sessions) the planned session
        of that number; without it, or past the planned sessions, every planned session."""
        planned = list(plan.get("sessions") or [])
        if session_number is not None and 1 <= session_number <= len(planned):
            planned = [planned[session_number - 1]]
        values = [s.get("dose_values") or {} for s in planned]

        def highest(key: str) -> float | None:
            found = [v[key] for v in values if _is_number(v.get(key))]
            return max(found) if found else None

        doses: list[float] = []
        for v in values:
            given = v.get("dose_mg")
            for x in given if isinstance(given, list) else [given]:
                if _is_number(x) and x not in doses:
                    doses.append(x)
        weight = plan.get("weight_kg")
        return cls(
            regimen=str(plan.get("regimen", "")),
            n2o_fraction=highest("n2o_fraction"),
            dose_mg_per_kg=highest("dose_mg_per_kg"),
            dose_mg=tuple(sorted(doses)),
            weight_kg=weight if _is_number(weight) else None,
            sources=tuple(plan.get("sources") or ()),
        )


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class LabelledDoses:
    """The doses the label phases of an agent's regimens allow (empty for agents not dosed in
    fixed label doses), the device size and the sources."""

    agent: str
    doses_mg: tuple[float, ...]
    mg_per_device: int | None
    sources: tuple[str, ...]

    def describe(self) -> str:
        text = _mg_list(self.doses_mg)
        if self.mg_per_device:
            text += f" ({self.mg_per_device} mg per device)"
        return text


def labelled_doses(agent: str) -> LabelledDoses:
    doses: set[float] = set()
    devices: set[int] = set()
    sources: list[str] = []
    for r in regimens().values():
        if r.agent != agent or not r.phases:
            continue
        for ph in r.phases:
            doses.update(ph.dose_mg)
            if ph.first_dose_mg is not None:
                doses.add(ph.first_dose_mg)
        if r.mg_per_device:
            devices.add(r.mg_per_device)
        sources += [c.source for c in r.cite]
    device = next(iter(devices)) if len(devices) == 1 else None
    return LabelledDoses(agent, tuple(sorted(doses)), device, tuple(dict.fromkeys(sources)))


def _mg_list(values: tuple[float, ...] | list[float]) -> str:
    items = [f"{v:g}" for v in values]
    if len(items) > 1:
        return ", ".join(items[:-1]) + " or " + items[-1] + " mg"
    return (items[0] if items else "none") + " mg"


def _dose_alerts(record: SessionRecord, planned: PlannedDose | None) -> list[Alert]:
    """A fixed-dose agent's dose outside its labelled doses; a dose above the course's plan
    (N2O fraction, mg/kg, or mg for the planned weight); mg and mg/kg that disagree."""
    out: list[Alert] = []
    label = labelled_doses(record.agent)
    if record.dose_mg is not None and label.doses_mg and record.dose_mg not in label.doses_mg:
        why = ""
        if label.mg_per_device:
            devices = record.dose_mg / label.mg_per_device
            why = (
                f" ({devices:g} devices of {label.mg_per_device} mg)"
                if devices.is_integer()
                else f" (not a whole number of {label.mg_per_device} mg devices)"
            )
        out.append(
            Alert(
                "dose-not-labelled",
                "critical",
                f"{record.agent} {record.dose_mg:g} mg is not a labelled dose{why}; the label "
                f"allows {label.describe()}. Check what was given before discharge.",
                {
                    "dose_mg": record.dose_mg,
                    "labelled_doses_mg": list(label.doses_mg),
                    "mg_per_device": label.mg_per_device,
                },
                label.sources,
                True,
            )
        )
    if planned is None:
        return out
    rounding = monitoring().input_checks.dose_rounding_mg
    hits: list[str] = []
    if (
        record.n2o_fraction is not None
        and planned.n2o_fraction is not None
        and record.n2o_fraction > planned.n2o_fraction
    ):
        hits.append(
            f"N2O {record.n2o_fraction:.0%} is above the planned {planned.n2o_fraction:.0%}"
        )
    if (
        record.dose_mg_per_kg is not None
        and planned.dose_mg_per_kg is not None
        and record.dose_mg_per_kg > planned.dose_mg_per_kg
    ):
        hits.append(
            f"{record.dose_mg_per_kg:g} mg/kg is above the planned {planned.dose_mg_per_kg:g} mg/kg"
        )
    if record.dose_mg is not None and planned.dose_mg_per_kg is not None:
        # a weight-based plan: the planned mg for the course's weight, give or take rounding
        if planned.weight_kg:
            ceiling = planned.dose_mg_per_kg * planned.weight_kg
            if record.dose_mg > ceiling + rounding:
                hits.append(
                    f"{record.dose_mg:g} mg for {planned.weight_kg:g} kg is "
                    f"{record.dose_mg / planned.weight_kg:.3g} mg/kg, above the planned "
                    f"{planned.dose_mg_per_kg:g} mg/kg ({ceiling:.4g} mg)"
                )
        elif planned.dose_mg and record.dose_mg > max(planned.dose_mg) + rounding:
            hits.append(
                f"{record.dose_mg:g} mg is above the planned {max(planned.dose_mg):g} mg "
                f"({planned.dose_mg_per_kg:g} mg/kg)"
            )
    elif record.dose_mg is not None and planned.dose_mg:
        # a fixed-dose plan: the doses planned for this session, exactly
        if record.dose_mg > max(planned.dose_mg):
            hits.append(
                f"{record.dose_mg:g} mg is above the {_mg_list(planned.dose_mg)} planned "
                "for this session"
            )
        elif record.dose_mg not in planned.dose_mg:
            out.append(
                Alert(
                    "dose-not-in-plan",
                    "warning",
                    f"{record.dose_mg:g} mg is not a dose the plan ({planned.regimen}) gives for "
                    f"this session: {_mg_list(planned.dose_mg)}.",
                    {"dose_mg": record.dose_mg, "planned_dose_mg": list(planned.dose_mg)},
                    planned.sources,
                )
            )
    planned_facts = {
        "regimen": planned.regimen,
        "planned_n2o_fraction": planned.n2o_fraction,
        "planned_dose_mg_per_kg": planned.dose_mg_per_kg,
        "planned_dose_mg": list(planned.dose_mg),
        "weight_kg": planned.weight_kg,
    }
    if hits:
        out.append(
            Alert(
                "dose-above-plan",
                "critical",
                f"Dose above the plan ({planned.regimen}): {'; '.join(hits)}. Check what was "
                "given and observe accordingly before discharge.",
                {
                    "n2o_fraction": record.n2o_fraction,
                    "dose_mg": record.dose_mg,
                    "dose_mg_per_kg": record.dose_mg_per_kg,
                    **planned_facts,
                },
                planned.sources,
                True,
            )
        )
    if record.dose_mg is not None and record.dose_mg_per_kg is not None and planned.weight_kg:
        expected = record.dose_mg_per_kg * planned.weight_kg
        if abs(record.dose_mg - expected) > rounding:
            out.append(
                Alert(
                    "dose-inconsistent",
                    "warning",
                    f"{record.dose_mg:g} mg does not match {record.dose_mg_per_kg:g} mg/kg x "
                    f"{planned.weight_kg:g} kg (the course's weight) = {expected:.4g} mg; "
                    "correct the record to what was given.",
                    {
                        "dose_mg": record.dose_mg,
                        "dose_mg_per_kg": record.dose_mg_per_kg,
                        "expected_dose_mg": round(expected, 3),
                        **planned_facts,
                    },
                    planned.sources,
                    True,
                )
            )
    return out


def _bp_reading(record: SessionRecord) -> list[Alert]:
    """The post-dose reading the agent's label asks for: missing, untimed or taken early."""
    rule = monitoring().blood_pressure.reading_for(record.agent)
    if rule is None:
        return []
    due = rule.minutes_after_dose
    posts = record.post_dose_bp()
    if record.vitals and posts:
        # a series: the reading the label asks for is any taken at or after the due time
        timed = [(at, bp) for at, bp in posts if at is not None]
        on_time = [(at, bp) for at, bp in timed if at >= due]
        if on_time:
            return []
        if len(timed) < len(posts):
            at, reading = None, next(bp for at, bp in posts if at is None)
        else:
            at, reading = max(timed, key=lambda t: t[0])
        record = SessionRecord(
            agent=record.agent, start=record.start, bp_post=reading, bp_post_min=at
        )
    facts = {
        "bp_post": str(record.bp_post) if record.bp_post else None,
        "bp_post_min": record.bp_post_min,
        "due_min": due,
    }
    if record.bp_post is None:
        return [
            Alert(
                "bp-post-missing",
                "critical",
                f"No blood pressure recorded after dosing; the label asks for one {due:g} min "
                f"after dosing. {rule.action.strip()}",
                facts,
                _src(rule),
                True,
            )
        ]
    if record.bp_post_min is None:
        return [
            Alert(
                "bp-post-time-missing",
                "warning",
                f"When the blood pressure after dosing ({record.bp_post}) was taken is not "
                f"recorded; the label asks for a reading {due:g} min after dosing.",
                facts,
                _src(rule),
            )
        ]
    if record.bp_post_min < due:
        return [
            Alert(
                "bp-post-early",
                "warning",
                f"The blood pressure after dosing was taken {record.bp_post_min:g} min after "
                f"dosing, before the {due:g} min the label asks for; measure it again at "
                f"{due:g} min.",
                facts,
                _src(rule),
                True,
            )
        ]
    return []


def _same_day(record: SessionRecord, history: tuple[SessionRecord, ...]) -> list[Alert]:
    """Another session of the same agent on the same day (UTC): no regimen in the knowledge base
    gives more than one a day (their frequencies are per week), and for an agent dosed in fixed
    label doses the day's total above the largest labelled dose is named."""
    day = record.start.astimezone(UTC).date()
    same = [h for h in history if h.agent == record.agent and h.start.astimezone(UTC).date() == day]
    if not same:
        return []
    sources = tuple(
        dict.fromkeys(
            c.source for r in regimens().values() if r.agent == record.agent for c in r.cite
        )
    )
    facts: dict[str, Any] = {"sessions_that_day": len(same) + 1}
    text = (
        f"{len(same) + 1} {record.agent} sessions on {day.isoformat()}: the regimens give at most "
        "one a day"
    )
    label = labelled_doses(record.agent)
    if label.doses_mg and record.dose_mg is not None:
        total = record.dose_mg + sum(h.dose_mg or 0 for h in same)
        facts["total_mg_that_day"] = total
        if total > max(label.doses_mg):
            text += f"; {total:g} mg that day is above the largest labelled dose ({max(label.doses_mg):g} mg)"
    return [
        Alert(
            "repeat-dose-same-day",
            "critical",
            text + ". Check for a duplicate or a dosing error.",
            facts,
            sources,
            True,
        )
    ]


@dataclass(frozen=True)
class DischargeTime:
    """The earliest moment a session may be discharged, and why."""

    at: datetime
    minutes_after_start: float
    reason: str
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "earliest_discharge": self.at.isoformat(),
            "minutes_after_start": self.minutes_after_start,
            "reason": self.reason,
            "sources": list(self.sources),
        }


def earliest_discharge(record: SessionRecord) -> DischargeTime:
    """Not before the start, nor before start + the agent's minimum observation time (when the
    knowledge base gives one), nor before the dosing and observation time the record itself
    gives (``duration_min`` + ``observation_min``)."""
    options: list[tuple[float, str, tuple[str, ...]]] = [(0.0, "the session start", ())]
    rule = monitoring().observation_for(record.agent)
    if rule is not None and rule.min_minutes is not None:
        options.append(
            (
                float(rule.min_minutes),
                f"the start + {rule.min_minutes:g} min, the minimum observation for {record.agent}",
                _src(rule),
            )
        )
    recorded = (record.duration_min or 0) + (record.observation_min or 0)
    if recorded:
        options.append(
            (
                float(recorded),
                f"the start + {recorded:g} min, the dosing and observation time this record gives",
                (),
            )
        )
    minutes, reason, sources = max(options, key=lambda o: o[0])
    return DischargeTime(record.start + timedelta(minutes=minutes), minutes, reason, sources)


def check_session(
    record: SessionRecord,
    history: tuple[SessionRecord, ...] = (),
    planned: PlannedDose | None = None,
) -> SafetyReport:
    """Alerts for ``record``; ``history`` holds the patient's earlier sessions (any agent),
    ``planned`` what the course's plan gives for this session."""
    mon = monitoring()
    alerts: list[Alert] = []
    bp = mon.blood_pressure
    pre = record.pre_dose_bp()
    for rule in bp.pre_dose:
        if rule.agent == record.agent and pre is not None:
            hits = _bp_hits(rule, pre, None)
            if hits:
                alerts.append(
                    Alert(
                        "bp-pre-dose",
                        rule.level,
                        f"Before dosing: {'; '.join(hits)}. {rule.action}",
                        {"bp_pre": str(pre)},
                        _src(rule),
                        blocks_discharge=False,
                    )
                )
    if pre is None and any(r.agent == record.agent for r in bp.pre_dose):
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
        if rule.agent != record.agent:
            continue
        # every reading after dosing is checked; the alert names the one with the most
        # findings (the highest systolic among equals) and how many readings had any
        found = [
            (hits, at, reading)
            for at, reading in record.post_dose_bp()
            if (hits := _bp_hits(rule, reading, pre))
        ]
        if found:
            hits, at, worst = max(found, key=lambda f: (len(f[0]), f[2].systolic))
            when = f" (at {at:g} min)" if at is not None else ""
            more = f"; {len(found)} readings after dosing had findings" if len(found) > 1 else ""
            alerts.append(
                Alert(
                    "bp-post-dose",
                    rule.level,
                    f"After dosing{when}: {'; '.join(hits)}{more}. {rule.action}",
                    {
                        "bp_pre": str(pre) if pre else None,
                        "bp_post": str(worst),
                        "bp_post_min": at,
                        "readings_with_findings": len(found),
                    },
                    _src(rule),
                    blocks_discharge=True,
                )
            )
    alerts += _same_day(record, history)
    alerts += _bp_reading(record)
    alerts += _dose_alerts(record, planned)
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
    scale = monitoring().sedation_scale
    rated = sorted((v for v in record.vitals if v.moaas is not None), key=lambda v: v.minutes)
    last = rated[-1] if rated else None
    sedated = (
        "sedation" in rule.until_resolved
        and last is not None
        and last.moaas < scale.not_sedated.level
        and "sedation" not in pending
    )
    if pending or sedated:
        shown = list(pending)
        if sedated:
            shown.append(f"sedation ({scale.name} {last.moaas} at {last.minutes:g} min)")
        diss = monitoring().dissociation
        out.append(
            Alert(
                "not-resolved",
                "critical",
                f"Not resolved: {', '.join(shown)}; keep observing until resolved.",
                {
                    "unresolved": list(pending) + (["sedation"] if sedated else []),
                    "cadss_total": record.cadss_total,
                    "moaas_last": last.moaas if last else None,
                },
                tuple(
                    dict.fromkeys(
                        (
                            *_src(rule),
                            *_src(diss),
                            *(_src(scale.not_sedated) if sedated else ()),
                        )
                    )
                ),
                True,
            )
        )
    lost = [v for v in rated if v.moaas == scale.loss_of_consciousness.level]
    if lost:
        at = ", ".join(f"{v.minutes:g} min" for v in lost)
        out.append(
            Alert(
                "loss-of-consciousness",
                "critical",
                f"Loss of consciousness recorded ({scale.name} "
                f"{scale.loss_of_consciousness.level} at {at}): the label's definition; "
                "assess the patient and record what was done.",
                {"moaas_0_at_min": [v.minutes for v in lost]},
                _src(scale.loss_of_consciousness),
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
