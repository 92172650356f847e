"""Design inputs with sources (``design_inputs.yaml``): the effect of each N2O dose vs
placebo as an SMD with its SE, and each dose's nausea rate, for ``raad.pharm.design``."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, model_validator

from .sources import Citation, KnowledgeError
from .treatment import _load, _validated
from .trials import trial_base


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EffectInput(_M):
    n2o_fraction: float
    published: str | None = None
    same_as: float | None = None
    note: str
    cite: tuple[Citation, ...] = ()

    @model_validator(mode="after")
    def _one(self) -> EffectInput:
        if (self.published is None) == (self.same_as is None):
            raise ValueError(f"effect at {self.n2o_fraction}: give one of published, same_as")
        return self


class NauseaInput(_M):
    n2o_fraction: float
    events: int | None = None
    of: int | None = None
    relative_to: float | None = None
    ratio: float | None = None
    cite: tuple[Citation, ...]


class DesignInputs(_M):
    effects: tuple[EffectInput, ...]
    nausea: tuple[NauseaInput, ...]


@cache
def design_inputs() -> DesignInputs:
    value = _validated(DesignInputs, _load("design_inputs.yaml"), "design_inputs.yaml")
    published = {p.id for p in trial_base().published}
    for e in value.effects:
        if e.published is not None and e.published not in published:
            raise KnowledgeError(f"design_inputs.yaml: unknown published id {e.published!r}")
    return value
