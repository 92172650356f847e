"""Typed loader for ``staging.yaml``: the TRD definition and the Maudsley Staging Method."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict

from .sources import Citation, load_model


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrdDefinition(_M):
    name: str
    min_failed_trials: int
    distinct_mechanisms: int
    current_episode_only: bool
    failure_below_percent_improvement: float
    cite: tuple[Citation, ...]


class Adequacy(_M):
    name: str
    min_weeks: float
    cite: tuple[Citation, ...]


class AdequacyRules(_M):
    default: Adequacy
    alternatives: tuple[Adequacy, ...] = ()
    dose_note: str


class Trd(_M):
    definition: TrdDefinition
    adequacy: AdequacyRules


class RangePoints(_M):
    label: str | None = None
    min: int
    max: int | None
    points: int


class DurationBands(_M):
    rounding: str
    bands: tuple[RangePoints, ...]


class LabelPoints(_M):
    label: str
    points: int


class Category(_M):
    label: str
    min: int
    max: int


class Threshold(_M):
    name: str
    above: float
    cite: tuple[Citation, ...]


class Msm(_M):
    cite: tuple[Citation, ...]
    duration_months: DurationBands
    severity: tuple[LabelPoints, ...]
    antidepressant_failures: tuple[RangePoints, ...]
    augmentation_points: int
    ect_points: int
    categories: tuple[Category, ...]
    thresholds: tuple[Threshold, ...]


class Staging(_M):
    trd: Trd
    msm: Msm

    def citations(self) -> list[Citation]:
        out = [*self.trd.definition.cite, *self.trd.adequacy.default.cite, *self.msm.cite]
        for a in self.trd.adequacy.alternatives:
            out += a.cite
        for t in self.msm.thresholds:
            out += t.cite
        return out


@cache
def load_staging() -> Staging:
    return load_model("staging.yaml", Staging)
