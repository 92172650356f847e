"""Typed loader for ``trials.yaml``: the cited trial base and published pooled results."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from .sources import Citation, KnowledgeError
from .treatment import _load, _validated


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Arm(_M):
    id: str
    agent: str | None = None
    control: str | None = None
    n2o_fraction: float | None = None
    n2o_fraction_values: tuple[float, ...] = ()
    duration_min: float | None = None
    sessions: int | None = None
    per_week: float | None = None
    dose_mg_per_kg: float | None = None
    pretreatment: str | None = None
    n_analysed: int | None = None
    n_randomized: int | None = None  # from the trial's cited sources


class Number(_M):
    """One reported number (an effect, arm summary, count or p-value) with its source."""

    kind: Literal["mean_difference", "odds_ratio", "arm_mean", "count", "p_value"]
    outcome: str
    time: str | None = None
    contrast: tuple[str, str] | None = None
    arm: str | None = None
    value: float | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None
    p_below: float | None = None
    mean: float | None = None
    sd: float | None = None
    n: int | None = None
    events: int | None = None
    flag: Literal["reported", "derived"]
    note: str | None = None
    cite: Citation

    @model_validator(mode="after")
    def _shape(self) -> Number:
        k = self.kind
        if k in ("mean_difference", "odds_ratio") and (self.value is None or self.contrast is None):
            raise ValueError(f"{k} needs value and contrast")
        if self.ci is not None and not (
            self.ci[0] <= (self.value or 0) <= self.ci[1] or self.value is None
        ):
            raise ValueError(f"value {self.value} outside its CI {self.ci}")
        if k == "arm_mean" and (
            self.mean is None or self.sd is None or self.n is None or self.arm is None
        ):
            raise ValueError("arm_mean needs arm, mean, sd and n")
        if k == "count" and (
            self.events is None
            or self.n is None
            or self.arm is None
            or not 0 <= self.events <= self.n
        ):
            raise ValueError("count needs arm and 0 <= events <= n")
        if k == "p_value" and self.p is None:
            raise ValueError("p_value needs p")
        return self


class Trial(_M):
    id: str
    label: str
    cite: tuple[Citation, ...]
    registry: str | None = None
    design: Literal["parallel", "crossover", "single-arm"]
    periods: int | None = None
    washout: str | None = None
    population: str
    n_randomized: int
    scale: str | None = None
    arms: tuple[Arm, ...]
    numbers: tuple[Number, ...]
    notes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _refs(self) -> Trial:
        arms = {a.id for a in self.arms}
        for num in self.numbers:
            refs = [*(num.contrast or ()), *([num.arm] if num.arm else [])]
            unknown = [r for r in refs if r not in arms]
            if unknown:
                raise ValueError(f"trial {self.id}: number refers to unknown arm(s) {unknown}")
        sizes = [a.n_randomized for a in self.arms]
        known = self.design == "parallel" and all(n is not None for n in sizes)
        if known and sum(sizes) != self.n_randomized:
            raise ValueError(
                f"trial {self.id}: arm sizes {sizes} do not add up to "
                f"n_randomized {self.n_randomized}"
            )
        return self

    def arm(self, arm_id: str) -> Arm:
        return next(a for a in self.arms if a.id == arm_id)


class Published(_M):
    id: str
    label: str
    outcome: str
    time: str
    n2o_fraction: float | None = None
    measure: Literal["MD", "SMD", "RR"]
    value: float
    ci: tuple[float, float]
    i2: float | None = None
    k_trials: int | None = None  # trials behind the value, when the source states it
    k_note: str | None = None  # what the source says instead, or that it says nothing
    cite: Citation


class TrialBase(_M):
    trials: tuple[Trial, ...]
    published: tuple[Published, ...]


@cache
def trial_base() -> TrialBase:
    base = _validated(TrialBase, _load("trials.yaml"), "trials.yaml")
    ids = [t.id for t in base.trials]
    if len(set(ids)) != len(ids):
        raise KnowledgeError("trials.yaml: duplicate trial ids")
    return base
