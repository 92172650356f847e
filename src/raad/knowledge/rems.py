"""Typed loader for ``rems.yaml``: the SPRAVATO REMS Patient Monitoring Form's deadline, the
concomitant medicines it asks about and its blood-pressure time points, each with its source."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict

from .sources import Citation, load_model


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Deadline(_M):
    value: int
    note: str
    cite: tuple[Citation, ...]


class Medicine(_M):
    key: str
    label: str
    cite: tuple[Citation, ...]


class Point(_M):
    key: str
    label: str


class RemsForm(_M):
    submit_within_days: Deadline
    concomitant_medicines: tuple[Medicine, ...]
    blood_pressure_points: tuple[Point, ...]
    blood_pressure_cite: tuple[Citation, ...]
    not_found: str

    def citations(self) -> list[Citation]:
        return [
            *self.submit_within_days.cite,
            *(c for m in self.concomitant_medicines for c in m.cite),
            *self.blood_pressure_cite,
        ]

    def medicine_keys(self) -> tuple[str, ...]:
        return tuple(m.key for m in self.concomitant_medicines)


@cache
def load_rems() -> RemsForm:
    """The form's rules, checked against ``sources.yaml`` (KnowledgeError if not)."""
    return load_model("rems.yaml", RemsForm)
