"""Screening: which rapid-acting agents a patient may have, and why.

``screen(facts)`` applies the cited rules of ``knowledge/contraindications.yaml`` and the
pre-dose blood-pressure rules of ``knowledge/monitoring.yaml`` to the patient's conditions,
medications and findings. Per agent it gives ``contraindicated | caution | eligible`` with the
reasons, the facts that triggered them and their sources. Facts a screen needs but lacks are
listed as ``missing``; an agent with missing facts is never reported as ``eligible`` (at most
``caution``). Condition and medication entries that match no rule's concept are returned as
``unrecognised`` so that nothing a clinician entered is silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from raad.knowledge.treatment import (
    contraindications,
    knowledge_version,
    monitoring,
    normalise_code,
    regimens,
)

from .errors import ClinicalInputError
from .safety import BloodPressure

Status = Literal["contraindicated", "caution", "eligible"]
AGENTS = ("n2o", "ketamine", "esketamine", "naltrexone")
MISSING_TEXT = {
    "b12_status": "vitamin B12 status (a B12 result or a known deficiency)",
    "pregnancy_status": "pregnancy status",
    "blood_pressure": "a resting blood pressure",
    "opioid_status": "current opioid use (yes/no)",
}


class Entry(BaseModel):
    """A condition or medication: plain text, a code (``system`` + ``code``), or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str | None = None
    system: str | None = None
    code: str | None = None
    active: bool = True

    @field_validator("system")
    @classmethod
    def _system(cls, v: str | None) -> str | None:
        return None if v is None else v.upper()

    def describe(self) -> str:
        code = f"{self.system}|{self.code}" if self.code else ""
        return " ".join(x for x in (self.text or "", f"[{code}]" if code else "") if x)


class PatientFacts(BaseModel):
    """What is known about the patient; ``None`` means unknown, never 'normal'."""

    model_config = ConfigDict(extra="forbid")

    age_years: int | None = None
    sex: Literal["female", "male", "other"] | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    b12_status: Literal["normal", "low"] | None = None
    opioid_use: bool | None = None
    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    conditions: list[Entry | str] = Field(default_factory=list)
    medications: list[Entry | str] = Field(default_factory=list)

    @field_validator("conditions", "medications")
    @classmethod
    def _entries(cls, v: list[Entry | str]) -> list[Entry | str]:
        return [Entry(text=x) if isinstance(x, str) else x for x in v]

    @classmethod
    def parse(cls, data: Any) -> PatientFacts:
        """Validate raw data; errors name the field path and what is allowed."""
        try:
            facts = cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            path = ".".join(str(p) for p in err["loc"])
            raise ClinicalInputError(path or "facts", err.get("input"), err["msg"]) from None
        facts.blood_pressure()  # range checks
        lo, hi = monitoring().plausible_ranges.age_years
        if facts.age_years is not None and not lo <= facts.age_years <= hi:
            raise ClinicalInputError("age_years", facts.age_years, f"{lo:g}-{hi:g}")
        return facts

    def blood_pressure(self) -> BloodPressure | None:
        if self.systolic_mmhg is None and self.diastolic_mmhg is None:
            return None
        if self.systolic_mmhg is None or self.diastolic_mmhg is None:
            raise ClinicalInputError(
                "systolic_mmhg/diastolic_mmhg", "only one of the two", "both systolic and diastolic"
            )
        return BloodPressure(self.systolic_mmhg, self.diastolic_mmhg)


@dataclass(frozen=True)
class Reason:
    level: Literal["contraindicated", "caution", "missing"]
    text: str
    facts: tuple[str, ...]
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "text": self.text,
            "facts": list(self.facts),
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class AgentScreen:
    agent: str
    status: Status
    reasons: tuple[Reason, ...]
    missing: tuple[str, ...]
    regimens: dict[str, Status] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reasons": [r.to_dict() for r in self.reasons],
            "missing": list(self.missing),
            "regimens": dict(self.regimens),
        }


@dataclass(frozen=True)
class Screening:
    agents: dict[str, AgentScreen]
    unrecognised: tuple[str, ...]
    knowledge_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "agents": {k: v.to_dict() for k, v in self.agents.items()},
            "unrecognised": list(self.unrecognised),
            "knowledge_version": self.knowledge_version,
        }

    def __str__(self) -> str:
        lines = [
            f"Screening (knowledge {self.knowledge_version}); raad supports clinical "
            "judgement and never replaces it.",
            "",
        ]
        for a in self.agents.values():
            lines.append(f"{a.agent:<11} {a.status.upper()}")
            for r in a.reasons:
                facts = f" (facts: {', '.join(r.facts)})" if r.facts else ""
                lines.append(f"    - [{r.level}] {r.text}{facts}  [{', '.join(r.sources)}]")
        if self.unrecognised:
            lines += [
                "",
                "Not recognised by any rule (check them yourself): " + "; ".join(self.unrecognised),
            ]
        return "\n".join(lines)


def _norm(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9%]+", " ", text.lower()).strip() + " "


@cache
def _alias_table() -> tuple[tuple[str, str], ...]:
    ci = contraindications()
    out = []
    for name, concept in (*ci.conditions.items(), *ci.medications.items()):
        out += [(name, _norm(a)) for a in concept.aliases]
    return tuple(out)


CodeKey = tuple[str, str, bool]  # system, normalised code, exact


@cache
def _code_index() -> tuple[dict[CodeKey, frozenset[str]], dict[str, tuple[int, ...]]]:
    """Concept names by code, and per system the lengths of its prefix codes."""
    ci = contraindications()
    table: dict[CodeKey, set[str]] = {}
    for name, concept in (*ci.conditions.items(), *ci.medications.items()):
        for ref in concept.code_refs:
            table.setdefault((ref.system, ref.code, ref.exact), set()).add(name)
    lengths: dict[str, set[int]] = {}
    for system, code, exact in table:
        if not exact:
            lengths.setdefault(system, set()).add(len(code))
    return (
        {k: frozenset(v) for k, v in table.items()},
        {s: tuple(sorted(n)) for s, n in lengths.items()},
    )


@lru_cache(maxsize=65_536)
def _code_matches(system: str, code: str) -> frozenset[str]:
    """Concepts whose exact code is ``code`` or whose prefix code starts it (dots ignored)."""
    table, lengths = _code_index()
    code = normalise_code(code)
    found = set(table.get((system, code, True), ()))
    for n in lengths.get(system, ()):
        if n > len(code):
            break
        found |= table.get((system, code[:n], False), frozenset())
    return frozenset(found)


def _match(entry: Entry) -> set[str]:
    """Concept names an entry matches: by code (prefix or exact), or by an alias as whole words."""
    found: set[str] = set()
    if entry.code and entry.system:
        found |= _code_matches(entry.system, entry.code)
    if entry.text:
        found |= _text_matches(entry.text)
    return found


@lru_cache(maxsize=65_536)
def _text_matches(text: str) -> frozenset[str]:
    """Concepts whose alias appears in ``text`` as whole words (memoised: texts repeat)."""
    t = _norm(text)
    return frozenset(name for name, alias in _alias_table() if alias in t)


def screen(facts: PatientFacts | dict[str, Any]) -> Screening:
    """Screen a patient for every agent (see the module docstring)."""
    if not isinstance(facts, PatientFacts):
        facts = PatientFacts.parse(facts)
    ci = contraindications()
    present: dict[str, list[str]] = {}
    unrecognised: list[str] = []
    for entry in (*facts.conditions, *facts.medications):
        if not entry.active:
            continue
        names = _match(entry)
        if not names:
            unrecognised.append(entry.describe())
        for n in names:
            present.setdefault(n, []).append(entry.describe())
    if facts.pregnant:
        present.setdefault("pregnancy", []).append("pregnant: yes")
    if facts.breastfeeding:
        present.setdefault("breastfeeding", []).append("breastfeeding: yes")
    if facts.b12_status == "low":
        present.setdefault("b12_deficiency", []).append("vitamin B12: low")
    if facts.opioid_use:
        present.setdefault("opioid", []).append("opioid use: yes")
    bp = facts.blood_pressure()
    result = {}
    for agent in AGENTS:
        rules = ci.rules[agent]
        reasons = [
            Reason(
                r.level,
                r.reason,
                tuple(present[r.when]),
                tuple(dict.fromkeys(c.source for c in r.cite)),
            )
            for r in rules.items
            if r.when in present
        ]
        reasons += _bp_reasons(agent, bp)
        missing = tuple(MISSING_TEXT[n] for n in rules.needs if _lacks(n, facts))
        if missing:
            reasons.append(
                Reason(
                    "missing",
                    "Facts needed before this agent can be judged eligible: " + "; ".join(missing),
                    (),
                    (),
                )
            )
        levels = {r.level for r in reasons}
        status: Status = (
            "contraindicated"
            if "contraindicated" in levels
            else "caution"
            if levels & {"caution", "missing"}
            else "eligible"
        )
        result[agent] = AgentScreen(
            agent, status, tuple(reasons), missing, _regimen_status(agent, status, facts.age_years)
        )
    return Screening(result, tuple(unrecognised), knowledge_version())


def _lacks(need: str, facts: PatientFacts) -> bool:
    if need == "b12_status":
        return facts.b12_status is None
    if need == "pregnancy_status":
        return facts.pregnant is None and facts.sex != "male"
    if need == "blood_pressure":
        return facts.systolic_mmhg is None
    return facts.opioid_use is None


def _bp_reasons(agent: str, bp: BloodPressure | None) -> list[Reason]:
    if bp is None:
        return []
    out = []
    for rule in monitoring().blood_pressure.pre_dose:
        if rule.agent != agent:
            continue
        hits = []
        if rule.systolic_above is not None and bp.systolic > rule.systolic_above:
            hits.append(f"systolic {bp.systolic:g} > {rule.systolic_above:g}")
        if rule.diastolic_above is not None and bp.diastolic > rule.diastolic_above:
            hits.append(f"diastolic {bp.diastolic:g} > {rule.diastolic_above:g}")
        if hits:
            level = "contraindicated" if rule.level == "critical" else "caution"
            out.append(
                Reason(
                    level,
                    rule.action,
                    (f"blood pressure {bp}", *hits),
                    tuple(dict.fromkeys(c.source for c in rule.cite)),
                )
            )
    return out


def _regimen_status(agent: str, status: Status, age: int | None) -> dict[str, Status]:
    out: dict[str, Status] = {}
    for r in regimens().values():
        if r.agent != agent:
            continue
        if age is not None and (
            (r.max_age_years is not None and age > r.max_age_years)
            or (r.min_age_years is not None and age < r.min_age_years)
        ):
            continue  # the regimen is for another age group
        out[r.id] = status
    return out
