"""The screening rules (``contraindications.yaml``): coded concepts and the cited rules per agent.

Concepts are of three kinds:

- **conditions** (``conditions:``): aliases and codes (ICD-10-CM, WHO ICD-10, SNOMED CT);
  ``history_codes`` are codes that mean the concept in remission or in the past (e.g. ICD-10-CM
  F11.21 "opioid dependence, in remission"), read with the status ``history``;
- **substances** (``substances:``): one medicine ingredient, its names and its codes (RxNorm
  ingredient, ATC substance, SNOMED CT substance). A name and a code of the same substance are
  in one record, so text and codes for the same drug always reach the same concepts;
- **classes** (``classes:``): a drug class as its member substances, the classes it includes
  (``cns_depressant`` includes ``opioid``) and its own ATC groups and aliases.

``products:`` rolls RxNorm product codes (SCD, SBD, GPCK, BPCK) up to their ingredients.

A rule fires on a concept the patient has (``when``), on an allergy to a concept
(``allergy_to``) or on age (``age_below`` / ``age_at_least``). Which statuses count is the
rule's ``statuses`` (conditions default to active and unconfirmed; medicines to current, and to
a stop within ``recent_days`` where the rule gives that window with its source).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from .codes import CODE_SYSTEMS, CodeRef, parse_code
from .sources import Citation

AgentId = Literal["n2o", "ketamine", "esketamine", "naltrexone"]
ConditionStatus = Literal["active", "history", "unconfirmed"]
MedicationStatus = Literal["current", "recent", "past", "unknown"]
Need = Literal[
    "b12_status",
    "pregnancy_status",
    "breastfeeding_status",
    "blood_pressure",
    "opioid_status",
    "age",
    "allergies",
]


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_codes(v: tuple[str, ...]) -> tuple[str, ...]:
    refs = [parse_code(c) for c in v]
    if len(set(refs)) != len(refs):
        raise ValueError(f"duplicate codes in {list(v)}")
    return v


class Concept(_M):
    """A condition (or a patient fact) a rule can fire on."""

    aliases: tuple[str, ...]
    codes: tuple[str, ...] = ()  # "SYSTEM|prefix" or "SYSTEM=exact"
    history_codes: tuple[str, ...] = ()  # codes meaning the concept in remission / the past
    note: str | None = None

    _codes = field_validator("codes", "history_codes")(classmethod(lambda cls, v: _check_codes(v)))

    @property
    def code_refs(self) -> tuple[CodeRef, ...]:
        return tuple(parse_code(c) for c in self.codes)

    @property
    def history_refs(self) -> tuple[CodeRef, ...]:
        return tuple(parse_code(c) for c in self.history_codes)


class Substance(_M):
    """One medicine ingredient: names (generic and brand) and exact codes."""

    names: tuple[str, ...]
    codes: tuple[str, ...] = ()  # "RXNORM=7804", "ATC=N02AA05", "SNOMED-CT=..."
    note: str | None = None

    @field_validator("codes")
    @classmethod
    def _exact(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        _check_codes(v)
        for c in v:
            if not parse_code(c).exact:
                raise ValueError(
                    f"substance code {c!r}: a substance's codes are exact (SYSTEM=code)"
                )
        return v

    @property
    def code_refs(self) -> tuple[CodeRef, ...]:
        return tuple(parse_code(c) for c in self.codes)


class DrugClass(_M):
    """A drug class: member substances, included classes, ATC groups and aliases."""

    aliases: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()  # ATC groups ("ATC|N05BA")
    members: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    note: str | None = None

    _codes = field_validator("codes")(classmethod(lambda cls, v: _check_codes(v)))

    @property
    def code_refs(self) -> tuple[CodeRef, ...]:
        return tuple(parse_code(c) for c in self.codes)


class Product(_M):
    """An RxNorm product (SCD/SBD/GPCK/BPCK) and the substances raad knows among its
    ingredients; ``effect_days`` is how long one dose acts (long-acting forms), where cited."""

    code: str  # "RXNORM=1049221"
    name: str
    tty: Literal["SCD", "SBD", "GPCK", "BPCK", "SCDC", "SBDC", "SCDF", "SBDF", "BN", "MIN", "PIN"]
    ingredients: tuple[str, ...]
    effect_days: float | None = None
    cite: tuple[Citation, ...]

    @field_validator("code")
    @classmethod
    def _rx(cls, v: str) -> str:
        ref = parse_code(v)
        if ref.system != "RXNORM" or not ref.exact:
            raise ValueError(f"product code {v!r}: write RXNORM=<rxcui>")
        return v


class Rule(_M):
    when: str | None = None
    allergy_to: str | None = None
    age_below: int | None = None
    age_at_least: int | None = None
    statuses: tuple[ConditionStatus | MedicationStatus, ...] | None = None
    recent_days: float | None = None  # a stopped medicine still counts this many days
    within_days: float | None = None  # a condition counts only this long after its onset
    level: Literal["contraindicated", "caution"]
    reason: str
    cite: tuple[Citation, ...]

    @model_validator(mode="after")
    def _one_trigger(self) -> Rule:
        triggers = [
            x
            for x in (self.when, self.allergy_to, self.age_below, self.age_at_least)
            if x is not None
        ]
        if len(triggers) != 1:
            raise ValueError(
                f"rule {self.reason[:40]!r}: give exactly one of when, allergy_to, age_below, "
                "age_at_least"
            )
        if not self.cite:
            raise ValueError(f"rule {self.reason[:40]!r}: cite at least one source")
        return self

    @property
    def trigger(self) -> str:
        if self.when is not None:
            return self.when
        if self.allergy_to is not None:
            return f"allergy to {self.allergy_to}"
        if self.age_below is not None:
            return f"age < {self.age_below}"
        return f"age >= {self.age_at_least}"


class AgentRules(_M):
    needs: tuple[Need, ...]
    items: tuple[Rule, ...]


class Contraindications(_M):
    code_sources: dict[str, tuple[Citation, ...]] = {}  # per code system: where its codes were read
    conditions: dict[str, Concept]
    substances: dict[str, Substance]
    classes: dict[str, DrugClass]
    products: tuple[Product, ...] = ()
    rules: dict[AgentId, AgentRules]

    @model_validator(mode="after")
    def _known(self) -> Contraindications:
        meds = set(self.substances) | set(self.classes)
        overlap = set(self.conditions) & meds
        if overlap:
            raise ValueError(f"names used for both a condition and a medicine: {sorted(overlap)}")
        if set(self.substances) & set(self.classes):
            raise ValueError(
                f"names used for a substance and a class: "
                f"{sorted(set(self.substances) & set(self.classes))}"
            )
        for cname, cls in self.classes.items():
            for m in cls.members:
                if m not in self.substances:
                    raise ValueError(f"classes.{cname}: unknown member substance {m!r}")
            for i in cls.includes:
                if i not in self.classes:
                    raise ValueError(f"classes.{cname}: includes unknown class {i!r}")
        _acyclic(self.classes)
        for p in self.products:
            for i in p.ingredients:
                if i not in self.substances:
                    raise ValueError(f"product {p.code}: unknown ingredient {i!r}")
        names = set(self.conditions) | meds
        for agent, rules in self.rules.items():
            for r in rules.items:
                for n in (r.when, r.allergy_to):
                    if n is not None and n not in names:
                        raise ValueError(f"rules.{agent}: unknown concept {n!r}")
        for system, cite in self.code_sources.items():
            if system not in CODE_SYSTEMS:
                raise ValueError(f"code_sources: unknown code system {system!r}")
            if not cite:
                raise ValueError(f"code_sources.{system}: cite at least one source")
        for name, refs in self.all_code_refs():
            for ref in refs:
                if ref.system not in self.code_sources:
                    raise ValueError(f"{name}: {ref.system} codes need a code_sources entry")
        return self

    def all_code_refs(self) -> list[tuple[str, tuple[CodeRef, ...]]]:
        out: list[tuple[str, tuple[CodeRef, ...]]] = []
        for name, c in self.conditions.items():
            out.append((name, c.code_refs + c.history_refs))
        for name, s in self.substances.items():
            out.append((name, s.code_refs))
        for name, k in self.classes.items():
            out.append((name, k.code_refs))
        out += [(p.code, (parse_code(p.code),)) for p in self.products]
        return out

    @property
    def medications(self) -> dict[str, Substance | DrugClass]:
        """Every medicine concept (substances and classes) by name."""
        return {**self.substances, **self.classes}


def _acyclic(classes: dict[str, DrugClass]) -> None:
    seen: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if seen.get(name) == 2:
            return
        if seen.get(name) == 1:
            raise ValueError(f"classes include each other in a circle: {' -> '.join(path)}")
        seen[name] = 1
        for i in classes[name].includes:
            visit(i, (*path, i))
        seen[name] = 2

    for n in classes:
        visit(n, (n,))
