"""When the clinic's own outcomes are read (``cohort_time_points.yaml``): a convention, said
so, with labels matching the trial base's time points."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, model_validator

from .treatment import _load, _validated


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimePoint(_M):
    label: str
    target_day: int
    window: tuple[int, int]

    @model_validator(mode="after")
    def _inside(self) -> TimePoint:
        lo, hi = self.window
        if not lo <= self.target_day <= hi:
            raise ValueError(f"time point {self.label}: target day outside its window")
        return self


class CohortTimePoints(_M):
    note: str
    time_points: tuple[TimePoint, ...]


@cache
def cohort_time_points() -> CohortTimePoints:
    return _validated(CohortTimePoints, _load("cohort_time_points.yaml"), "cohort_time_points.yaml")
