"""Typed loader for ``record_reading.yaml``: how an EHR record becomes screening facts."""

from __future__ import annotations

from functools import cache

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


class RecordReading(_M):
    observation_statuses_counted: tuple[str, ...]
    loinc: Loinc
    answers: Answers
    b12_unit: B12Unit
    freshness_days: dict[str, Freshness]
    long_acting: tuple[LongActing, ...]

    def model_post_init(self, _: object) -> None:
        for name, f in self.freshness_days.items():
            if not f.site_policy and not f.cite:
                raise ValueError(f"freshness_days.{name}: cite a source or mark site_policy: true")
            if f.site_policy and not f.note:
                raise ValueError(f"freshness_days.{name}: a site policy needs a note saying why")


@cache
def record_reading() -> RecordReading:
    return _validated(RecordReading, _load("record_reading.yaml"), "record_reading.yaml")
