"""Inputs of the Jacobson-Truax reliable change index per instrument, with their sources
(``reliable_change.yaml``); instruments without both inputs say what is missing."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, model_validator

from .sources import Citation, KnowledgeError
from .treatment import _load, _validated


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reliability(_M):
    value: float
    kind: str
    cite: tuple[Citation, ...]


class SampleSD(_M):
    value: float
    sample: str
    cite: tuple[Citation, ...]


class OtherCriterion(_M):
    points: float
    what: str
    cite: tuple[Citation, ...]


class InstrumentRC(_M):
    instrument: str
    reliability: Reliability | None = None
    sd: SampleSD | None = None
    missing: str | None = None
    other_criteria: tuple[OtherCriterion, ...] = ()

    @model_validator(mode="after")
    def _complete_or_said(self) -> InstrumentRC:
        if (self.reliability is None or self.sd is None) and not self.missing:
            raise ValueError(f"{self.instrument}: an input is missing; say what in 'missing'")
        if self.reliability is not None and not 0 < self.reliability.value < 1:
            raise ValueError(f"{self.instrument}: reliability must be in (0, 1)")
        return self


class Formula(_M):
    cite: tuple[Citation, ...]


class ReliableChange(_M):
    formula: Formula
    instruments: tuple[InstrumentRC, ...]


@cache
def reliable_change_inputs() -> dict[str, InstrumentRC]:
    value = _validated(ReliableChange, _load("reliable_change.yaml"), "reliable_change.yaml")
    names = [i.instrument for i in value.instruments]
    if len(set(names)) != len(names):
        raise KnowledgeError("reliable_change.yaml: an instrument is listed twice")
    # that each is one of raad's scales is checked in tests/scales/test_reliable_change.py
    return {i.instrument: i for i in value.instruments}


def formula_cite() -> tuple[Citation, ...]:
    return _validated(
        ReliableChange, _load("reliable_change.yaml"), "reliable_change.yaml"
    ).formula.cite
