"""Typed loader for ``disclosure.yaml``: the limits of de-identified views (age top-coding,
minimum cell size), each with its source."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict

from .sources import Citation, load_model


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limit(_M):
    value: int
    note: str
    cite: tuple[Citation, ...]


class Disclosure(_M):
    age_top_code: Limit
    min_cell_size: Limit

    def citations(self) -> list[Citation]:
        return [*self.age_top_code.cite, *self.min_cell_size.cite]


@cache
def load_disclosure() -> Disclosure:
    """The limits, checked against ``sources.yaml`` (KnowledgeError when they do not load)."""
    return load_model("disclosure.yaml", Disclosure)
