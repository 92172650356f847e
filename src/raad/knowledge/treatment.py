"""Typed loaders for the treatment data: agents, regimens and session monitoring rules."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from .codes import CODE_SYSTEMS, PREFIX_SYSTEMS, CodeRef, normalise_code, parse_code
from .screening_rules import Contraindications
from .sources import Citation, KnowledgeError, load_sources

__all__ = [
    "CODE_SYSTEMS",
    "PREFIX_SYSTEMS",
    "CodeRef",
    "Contraindications",
    "normalise_code",
    "parse_code",
]

AgentId = Literal["n2o", "ketamine", "esketamine", "naltrexone"]


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Agent(_M):
    id: AgentId
    name: str
    aliases: tuple[str, ...]
    route: str
    mechanism: str
    cite: tuple[Citation, ...]
    codes: tuple[str, ...] = ()  # the substance's own codes ("ATC|...", "RXNORM=..."), for exports
    codes_cite: tuple[Citation, ...] = ()

    @model_validator(mode="after")
    def _codes(self) -> Agent:
        for c in self.codes:
            parse_code(c)
        if self.codes and not self.codes_cite:
            raise ValueError(f"agent {self.id}: codes need codes_cite")
        return self


class Phase(_M):
    name: str
    weeks: int | None
    per_week: float
    dose_mg: tuple[int, ...]
    first_dose_mg: int | None = None
    note: str | None = None


class Regimen(_M):
    id: str
    agent: AgentId
    label: str
    n2o_fraction: float | None = None
    duration_min: float | None = None
    dose_mg_per_kg: float | None = None
    dose_mg: float | None = None
    doses_per_day: int | None = None
    days: int | None = None
    sessions: int | None = None
    per_week: float | None = None
    phases: tuple[Phase, ...] = ()
    mg_per_device: int | None = None
    min_age_years: int | None = None
    max_age_years: int | None = None
    population: str | None = None
    cite: tuple[Citation, ...]

    @model_validator(mode="after")
    def _shape(self) -> Regimen:
        if self.agent == "n2o" and not (self.n2o_fraction and self.duration_min and self.sessions):
            raise ValueError(f"regimen {self.id}: N2O needs n2o_fraction, duration_min, sessions")
        if self.agent == "ketamine" and not (self.dose_mg_per_kg and self.sessions):
            raise ValueError(f"regimen {self.id}: ketamine needs dose_mg_per_kg and sessions")
        if self.agent == "esketamine" and not self.phases:
            raise ValueError(f"regimen {self.id}: esketamine needs phases")
        if self.sessions and self.sessions > 1 and not self.per_week:
            raise ValueError(f"regimen {self.id}: repeated sessions need per_week")
        return self


class Check(_M):
    text: str
    cite: tuple[Citation, ...]


class BpRule(_M):
    agent: AgentId
    systolic_above: float | None = None
    diastolic_above: float | None = None
    systolic_rise_at_least: float | None = None
    diastolic_rise_at_least: float | None = None
    level: Literal["info", "caution", "warning", "critical"]
    action: str
    note: str | None = None
    cite: tuple[Citation, ...]


class BpReadingRule(_M):
    """A post-dose blood pressure reading an agent's label asks for, ``minutes_after_dose``
    after dosing."""

    agent: AgentId
    minutes_after_dose: float
    action: str
    cite: tuple[Citation, ...]


class BpRules(_M):
    pre_dose: tuple[BpRule, ...]
    post_dose: tuple[BpRule, ...]
    reading_after_dose: tuple[BpReadingRule, ...] = ()

    def reading_for(self, agent: str) -> BpReadingRule | None:
        return next((r for r in self.reading_after_dose if r.agent == agent), None)


class ObservationRule(_M):
    agent: AgentId
    min_minutes: float | None
    until_resolved: tuple[str, ...]
    note: str | None = None
    cite: tuple[Citation, ...]


class N2oExposure(_M):
    report_windows_days: tuple[int, ...]
    total_hours_limit: float
    min_interval_days: float
    action_over_limit: str
    cite: tuple[Citation, ...]
    continuous_minutes_limit: float
    consecutive_days_limit: int
    kalinox_cite: tuple[Citation, ...]


class StepDown(_M):
    from_fraction: float
    to_fraction: float
    trigger: str
    action: str
    cite: tuple[Citation, ...]


class Dissociation(_M):
    threshold: float | None
    note: str
    cite: tuple[Citation, ...]


class PlausibleRanges(_M):
    systolic_mmhg: tuple[float, float]
    diastolic_mmhg: tuple[float, float]
    n2o_fraction: tuple[float, float]
    duration_min: tuple[float, float]
    dose_mg_per_kg: tuple[float, float]
    weight_kg: tuple[float, float]
    age_years: tuple[float, float]
    trial_weeks: tuple[float, float]
    improvement_percent: tuple[float, float]
    dose_mg: tuple[float, float]
    observation_min: tuple[float, float]
    bp_post_min: tuple[float, float]
    heart_rate_per_min: tuple[float, float]
    spo2_percent: tuple[float, float]
    vitals_minutes: tuple[float, float]
    note: str


class InputChecks(_M):
    """raad's own input-check limits (clock and rounding allowances), not clinical thresholds."""

    clock_skew_min: float
    dose_rounding_mg: float
    note: str


class NotFound(_M):
    rule: None = None
    note: str
    cite: tuple[Citation, ...]


class SedationLevel(_M):
    level: int
    note: str | None = None
    cite: tuple[Citation, ...]


class SedationScale(_M):
    """The sedation scale a session's vital-signs series records (MOAA/S), its levels and
    sources; the level the label calls loss of consciousness, and the level read as no
    sedation (no discharge level was found in the sources: see its note)."""

    name: str
    title: str
    levels: dict[int, str]
    note: str
    cite: tuple[Citation, ...]
    loss_of_consciousness: SedationLevel
    not_sedated: SedationLevel


class Monitoring(_M):
    plausible_ranges: PlausibleRanges
    input_checks: InputChecks
    oxygen_after_n2o: NotFound
    pre_session_checks: dict[AgentId, tuple[Check, ...]]
    blood_pressure: BpRules
    observation: tuple[ObservationRule, ...]
    n2o_exposure: N2oExposure
    n2o_step_down: StepDown
    dissociation: Dissociation
    sedation_scale: SedationScale

    def observation_for(self, agent: str) -> ObservationRule | None:
        return next((o for o in self.observation if o.agent == agent), None)


def _load(name: str) -> Any:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _citations(obj: Any) -> list[Citation]:
    """Every Citation inside a (nested) model, for the load-time source check."""
    found: list[Citation] = []
    if isinstance(obj, Citation):
        return [obj]
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            found += _citations(getattr(obj, name))
    elif isinstance(obj, dict):
        for v in obj.values():
            found += _citations(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            found += _citations(v)
    return found


def _validated(model: type[BaseModel], raw: Any, name: str) -> Any:
    try:
        value = model.model_validate(raw)
    except Exception as exc:
        raise KnowledgeError(f"{name}: {exc}") from exc
    load_sources().check(_citations(value), name)
    return value


class _Agents(_M):
    agents: tuple[Agent, ...]


class ScheduleConventions(_M):
    per_week_2_offsets_days: tuple[int, int]
    maintenance_sessions_planned: int
    note: str


class _Regimens(_M):
    schedule_conventions: ScheduleConventions
    regimens: tuple[Regimen, ...]


@cache
def agents() -> dict[str, Agent]:
    return {a.id: a for a in _validated(_Agents, _load("agents.yaml"), "agents.yaml").agents}


@cache
def _regimen_file() -> _Regimens:
    return _validated(_Regimens, _load("regimens.yaml"), "regimens.yaml")


def schedule_conventions() -> ScheduleConventions:
    return _regimen_file().schedule_conventions


@cache
def regimens() -> dict[str, Regimen]:
    items = _regimen_file().regimens
    ids = [r.id for r in items]
    if len(set(ids)) != len(ids):
        raise KnowledgeError("regimens.yaml: duplicate regimen ids")
    known = agents()
    for r in items:
        if r.agent not in known:
            raise KnowledgeError(f"regimens.yaml: regimen {r.id} names unknown agent {r.agent}")
    return {r.id: r for r in items}


@cache
def monitoring() -> Monitoring:
    return _validated(Monitoring, _load("monitoring.yaml"), "monitoring.yaml")


def _load_json(name: str) -> Any:
    import json

    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def _with_value_sets(raw: dict[str, Any]) -> dict[str, Any]:
    """``contraindications.yaml`` with the codes of ``value_sets.json`` (per condition) and the
    products of ``rxnorm_products.json`` merged in; every merged code's source must resolve."""
    registry = load_sources()
    vs = _load_json("value_sets.json")["concepts"]
    conditions = raw["conditions"]
    for concept, sets in vs.items():
        if concept not in conditions:
            raise KnowledgeError(f"value_sets.json: unknown condition {concept!r}")
        for key in ("codes", "history_codes"):
            have = list(conditions[concept].get(key) or [])
            for item in sets[key]:
                code, source = item[0], item[2]
                if source not in registry:
                    raise KnowledgeError(f"value_sets.json: {code} cites unknown source {source!r}")
                if code not in have:
                    have.append(code)
            conditions[concept][key] = have
        history = set(conditions[concept].get("history_codes") or [])
        conditions[concept]["codes"] = [c for c in conditions[concept]["codes"] if c not in history]
    products = []
    for rxcui, (tty, name, ingredients, source) in _load_json("rxnorm_products.json")[
        "products"
    ].items():
        if source not in registry:
            raise KnowledgeError(f"rxnorm_products.json: {rxcui} cites unknown source {source!r}")
        products.append(
            {
                "code": f"RXNORM={rxcui}",
                "name": name,
                "tty": tty,
                "ingredients": ingredients,
                "cite": [{"source": source}],
            }
        )
    raw["products"] = [*(raw.get("products") or []), *products]
    _add_brand_names(raw)
    return raw


def _add_brand_names(raw: dict[str, Any]) -> None:
    """Brand names from the RxNorm branded products' names ("... [Percocet]") as names of the
    substances the product holds, so "Percocet" typed as text reaches oxycodone as the product's
    code does."""
    import re

    for p in raw["products"]:
        if p["tty"] not in ("SBD", "BPCK"):
            continue
        for brand in re.findall(r"\[([^\]]+)\]", p["name"]):
            name = brand.strip().lower()
            if len(name) < 4 or not re.fullmatch(r"[a-z][a-z0-9 \-]*", name):
                continue
            for sid in p["ingredients"]:
                names = raw["substances"][sid]["names"]
                if name not in names:
                    names.append(name)


@cache
def contraindications() -> Contraindications:
    raw = _with_value_sets(_load("contraindications.yaml"))
    return _validated(Contraindications, raw, "contraindications.yaml")


@cache
def knowledge_version() -> str:
    """A digest of every knowledge data file, recorded with each screening."""
    import hashlib

    h = hashlib.sha256()
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            h.update(entry.name.encode())
            h.update(entry.read_bytes())
    return h.hexdigest()[:16]


class AdverseEvent(_M):
    event: str
    regimen: str | None = None
    agent: AgentId | None = None
    n2o_fraction: float | None = None
    count: int | None = None
    of: int | None = None
    unit: Literal["patients", "sessions"] | None = None
    reported_percent: float | None = None
    percent_range: tuple[float, float] | None = None
    placebo_percent_range: tuple[float, float] | None = None
    risk_ratio: float | None = None
    ci: tuple[float, float] | None = None
    versus: str | None = None
    pooled: bool = False
    k_trials: int | None = None  # trials behind a pooled value, when the source states it
    relative_to: str | None = None
    ratio: float | None = None
    note: str | None = None
    cite: tuple[Citation, ...]

    @model_validator(mode="after")
    def _consistent(self) -> AdverseEvent:
        if (self.regimen is None) == (self.agent is None):
            raise ValueError(f"adverse event {self.event!r}: give exactly one of regimen, agent")
        if self.count is not None and (self.of is None or not 0 <= self.count <= self.of):
            raise ValueError(f"adverse event {self.event!r}: count needs 0 <= count <= of")
        return self

    def describe(self) -> str:
        if self.count is not None:
            pct = (
                f"reported {self.reported_percent:g}%"
                if self.reported_percent is not None
                else f"{100 * self.count / self.of:.1f}%"
            )
            return f"{self.event}: {self.count}/{self.of} {self.unit} ({pct})"
        if self.percent_range is not None:
            lo, hi = self.percent_range
            extra = (
                f" (placebo {self.placebo_percent_range[0]:g}-{self.placebo_percent_range[1]:g}%)"
                if self.placebo_percent_range
                else ""
            )
            return f"{self.event}: {lo:g}-{hi:g}% of {self.unit}{extra}"
        if self.risk_ratio is not None:
            ci = f" [{self.ci[0]:g}, {self.ci[1]:g}]" if self.ci else ""
            frac = f" at {self.n2o_fraction:.0%}" if self.n2o_fraction is not None else ""
            k = (
                f"{self.k_trials} trials"
                if self.k_trials is not None
                else "number of trials not stated in the sources read"
            )
            return f"{self.event}{frac}: RR {self.risk_ratio:g}{ci} vs {self.versus} (pooled; {k})"
        return f"{self.event}: {self.note or ''} (x{self.ratio:g} of {self.relative_to})"


class _AdverseEvents(_M):
    events: tuple[AdverseEvent, ...]


@cache
def adverse_events() -> tuple[AdverseEvent, ...]:
    events = _validated(_AdverseEvents, _load("adverse_events.yaml"), "adverse_events.yaml").events
    known = regimens()
    for e in events:
        for r in (e.regimen, e.relative_to):
            if r is not None and r not in known:
                raise KnowledgeError(f"adverse_events.yaml: unknown regimen {r!r}")
    return events


class Substance(_M):
    name: str
    atc: str
    cite: tuple[Citation, ...]
    rxnorm: str | None = None  # RxNorm ingredient (TTY IN) RXCUI
    rxnorm_cite: tuple[Citation, ...] = ()

    @model_validator(mode="after")
    def _codes(self) -> Substance:
        if not CODE_SYSTEMS["ATC"].fullmatch(self.atc):
            raise ValueError(f"substance {self.name}: {self.atc!r} is not an ATC code")
        if self.rxnorm is not None and not CODE_SYSTEMS["RXNORM"].fullmatch(self.rxnorm):
            raise ValueError(f"substance {self.name}: {self.rxnorm!r} is not an RxNorm RXCUI")
        if (self.rxnorm is None) != (not self.rxnorm_cite):
            raise ValueError(f"substance {self.name}: give rxnorm and rxnorm_cite together")
        return self


class Antidepressants(_M):
    groups: dict[str, str]
    groups_cite: tuple[Citation, ...]
    substances: tuple[Substance, ...]


@cache
def antidepressants() -> Antidepressants:
    return _validated(Antidepressants, _load("antidepressants.yaml"), "antidepressants.yaml")
