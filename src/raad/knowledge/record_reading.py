"""Typed loader for ``record_reading.yaml``: how an EHR record becomes screening facts."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from .codes import parse_code
from .sources import Citation
from .treatment import _load, _validated


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Loinc(_M):
    blood_pressure_panels: tuple[str, ...]
    systolic: str
    diastolic: str
    b12_mass: tuple[str, ...]
    b12_molar: tuple[str, ...]
    hcg_presence: tuple[str, ...]
    pregnancy_status: tuple[str, ...]
    breastfeeding_status: tuple[str, ...]
    cite: tuple[Citation, ...]


class Answers(_M):
    pregnant: tuple[str, ...]
    not_pregnant: tuple[str, ...]
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    breastfeeding: tuple[str, ...]
    not_breastfeeding: tuple[str, ...]
    unknown: tuple[str, ...]
    cite: tuple[Citation, ...]

    @field_validator("*", mode="after")
    @classmethod
    def _codes(cls, v: object) -> object:
        if isinstance(v, tuple) and v and isinstance(v[0], str):
            for c in v:
                if not c.startswith("LOINC=LA"):
                    parse_code(c)
        return v


class B12Unit(_M):
    pg_per_ml_per_pmol_per_l: float
    cite: tuple[Citation, ...]


class Freshness(_M):
    days: float
    site_policy: bool = False
    note: str | None = None
    cite: tuple[Citation, ...] = ()


class LongActing(_M):
    substance: str
    forms: tuple[str, ...]
    effect_days: float | None  # None: long-acting, no source gives how long (read as unknown)
    note: str | None = None
    cite: tuple[Citation, ...]


class ExportAnswer(_M):
    code: str  # "SYSTEM=code"; LOINC answer codes ("LOINC=LA...") as LOINC writes them
    display: str


class ExportFact(_M):
    """How one screening fact is written in an exported Observation: its code, the category
    the profile asks for, and the coded answer for true and for false."""

    code: str
    display: str
    category: str  # an http://terminology.hl7.org/CodeSystem/observation-category code
    category_note: str | None = None
    when_true: ExportAnswer
    when_false: ExportAnswer
    cite: tuple[Citation, ...]

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        ref = parse_code(v)
        if not ref.exact:
            raise ValueError(f"{v}: an exported code is one code (SYSTEM=code)")
        return v


class Export(_M):
    facts: dict[Literal["pregnancy_status", "breastfeeding_status"], ExportFact]
    own_code_categories: dict[Literal["opioid_use", "b12_status"], str]
    own_code_categories_cite: tuple[Citation, ...]
    condition_category: str  # http://terminology.hl7.org/CodeSystem/condition-category
    condition_category_cite: tuple[Citation, ...]
    data_absent_reason: str  # http://terminology.hl7.org/CodeSystem/data-absent-reason
    unknown_gender: str  # http://hl7.org/fhir/administrative-gender
    missing_data_cite: tuple[Citation, ...]


# each exported fact: (its LOINC list, the answers read as true, the answers read as false)
_READ_BACK = {
    "pregnancy_status": ("pregnancy_status", "pregnant", "not_pregnant"),
    "breastfeeding_status": ("breastfeeding_status", "breastfeeding", "not_breastfeeding"),
}


class RecordReading(_M):
    observation_statuses_counted: tuple[str, ...]
    loinc: Loinc
    answers: Answers
    export: Export
    b12_unit: B12Unit
    freshness_days: dict[str, Freshness]
    long_acting: tuple[LongActing, ...]

    def model_post_init(self, _: object) -> None:
        for name, f in self.freshness_days.items():
            if not f.site_policy and not f.cite:
                raise ValueError(f"freshness_days.{name}: cite a source or mark site_policy: true")
            if f.site_policy and not f.note:
                raise ValueError(f"freshness_days.{name}: a site policy needs a note saying why")
        for name, fact in self.export.facts.items():  # what the export writes, the reader reads
            codes, yes, no = _READ_BACK[name]
            system, _, code = fact.code.partition("=")
            if system != "LOINC" or code not in getattr(self.loinc, codes):
                raise ValueError(f"export.facts.{name}.code {fact.code}: not in loinc.{codes}")
            for answer, field in ((fact.when_true, yes), (fact.when_false, no)):
                if answer.code not in getattr(self.answers, field):
                    raise ValueError(
                        f"export.facts.{name}: {answer.code} is not in answers.{field}"
                    )


@cache
def record_reading() -> RecordReading:
    return _validated(RecordReading, _load("record_reading.yaml"), "record_reading.yaml")
