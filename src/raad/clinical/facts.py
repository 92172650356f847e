"""What screening knows about a patient: ``PatientFacts`` and its condition, medication and
allergy ``Entry`` items.

``None`` always means unknown, never normal. Entries keep their code system as it was sent
(a FHIR URI or a short name such as ``ICD-10-CM``), a status, a date and where they came from,
so that a screen can say which record each reason rests on.

Statuses:

- conditions: ``active`` | ``history`` (resolved, inactive, in remission) | ``unconfirmed``
  (provisional, differential);
- medications: ``current`` | ``recent`` (stopped, inside a window a rule gives) | ``past`` |
  ``unknown`` (the record does not say whether it is still taken: asked for, never "not
  taking"); ``date`` is when it was last taken or, for long-acting forms, when its effect ends;
- allergies: ``active`` | ``unconfirmed``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from raad.knowledge.treatment import monitoring

from .errors import ClinicalInputError
from .safety import BloodPressure

MAX_ENTRIES = 50_000  # entries per list (a Bundle holds at most this many resources)
FactName = Literal[
    "systolic_mmhg", "diastolic_mmhg", "b12_status", "pregnant", "breastfeeding", "opioid_use"
]
MEASURED_FACTS: tuple[FactName, ...] = (
    "systolic_mmhg",
    "diastolic_mmhg",
    "b12_status",
    "pregnant",
    "breastfeeding",
    "opioid_use",
)  # facts measured or asked at a time, carried with their date in ``fact_dates``
CONDITION_STATUSES = ("active", "history", "unconfirmed")
MEDICATION_STATUSES = ("current", "recent", "past", "unknown")
ALLERGY_STATUSES = ("active", "unconfirmed")
EntryStatus = Literal["active", "history", "unconfirmed", "current", "recent", "past", "unknown"]


class Coding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    code: str


class Entry(BaseModel):
    """A condition, medication or allergy: plain text, codes, or both.

    ``system``/``code`` is the first coding; ``codings`` holds any further codings of the same
    concept (a FHIR CodeableConcept with SNOMED CT and ICD-10-CM codings is one entry).
    ``active: false`` (the older form) means ``history`` for a condition and ``past`` for a
    medication.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str | None = Field(default=None, max_length=1000)
    system: str | None = Field(default=None, max_length=300)
    code: str | None = Field(default=None, max_length=100)
    codings: tuple[Coding, ...] = ()
    status: EntryStatus | None = None
    active: bool | None = None
    date: dt.date | None = None
    source: str | None = Field(default=None, max_length=300)
    resource: str | None = Field(default=None, max_length=300)  # "Condition/abc", for re-imports

    @model_validator(mode="after")
    def _something(self) -> Entry:
        if not (self.text and self.text.strip()) and not self.code and not self.codings:
            raise ValueError("an entry needs a text or a code")
        if (self.system is None) != (self.code is None):
            raise ValueError("give system and code together")
        return self

    def all_codings(self) -> tuple[tuple[str, str], ...]:
        first = ((self.system, self.code),) if self.system and self.code else ()
        return first + tuple((c.system, c.code) for c in self.codings)

    def status_as(self, kind: Literal["condition", "medication", "allergy"]) -> str:
        """The entry's status read for its list (see the module docstring)."""
        if self.status is not None:
            return self.status
        if self.active is False:
            return {"condition": "history", "medication": "past", "allergy": "history"}[kind]
        return {"condition": "active", "medication": "current", "allergy": "active"}[kind]

    def describe(self) -> str:
        codes = ", ".join(f"{s}|{c}" for s, c in self.all_codings())
        parts = [self.text or "", f"[{codes}]" if codes else ""]
        if self.source:
            parts.append(f"({self.source})")
        return " ".join(x for x in parts if x)


class PatientFacts(BaseModel):
    """What is known about the patient; ``None`` means unknown, never 'normal'.

    ``allergies``: ``None`` when allergies are unknown, ``[]`` when none are known.
    ``fact_sources`` says where a scalar fact came from ("systolic_mmhg" -> "Observation/bp1,
    2026-11-29"); ``fact_dates`` when it was measured or recorded (screening counts a fact only
    inside its freshness window, ``knowledge/record_reading.yaml``); ``fact_notes`` says why a
    needed fact is missing ("blood_pressure" -> "the latest reading, 2016-03-01, is older than 30
    days"); ``unread`` lists records that could not be read at all (they may hold a
    contraindication, so no agent is eligible while any is listed).
    """

    model_config = ConfigDict(extra="forbid")

    age_years: int | None = None
    sex: Literal["female", "male", "other"] | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    b12_status: Literal["normal", "low"] | None = None
    opioid_use: bool | None = None
    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    conditions: list[Entry | str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    medications: list[Entry | str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    allergies: list[Entry | str] | None = Field(default=None, max_length=MAX_ENTRIES)
    fact_sources: dict[str, str] = Field(default_factory=dict)
    fact_dates: dict[FactName, dt.date] = Field(default_factory=dict)
    fact_notes: dict[str, str] = Field(default_factory=dict)
    unread: list[str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    deceased: str | None = Field(default=None, max_length=100)  # the record says so: when, or "yes"

    @field_validator("conditions", "medications", "allergies")
    @classmethod
    def _entries(cls, v: list[Entry | str] | None) -> list[Entry | str] | None:
        if v is None:
            return None
        return [Entry(text=x) if isinstance(x, str) else x for x in v]

    @model_validator(mode="after")
    def _statuses(self) -> PatientFacts:
        for name, allowed in (
            ("conditions", CONDITION_STATUSES),
            ("medications", MEDICATION_STATUSES),
            ("allergies", ALLERGY_STATUSES),
        ):
            for i, e in enumerate(getattr(self, name) or []):
                if e.status is not None and e.status not in allowed:
                    raise ClinicalInputError(f"{name}.{i}.status", e.status, ", ".join(allowed))
        return self

    @classmethod
    def parse(cls, data: Any) -> PatientFacts:
        """Validate raw data; errors name the field path and what is allowed."""
        try:
            facts = cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            path = ".".join(str(p) for p in err["loc"])
            ctx_error = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_error, ClinicalInputError):
                raise ctx_error from None
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
