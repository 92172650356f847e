"""Typed loader for ``esignature.yaml``: what each electronic signature means (the statement
the signer signs) and the rules signing follows, each with its source (21 CFR Part 11)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .sources import Citation, load_model


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Meaning(_M):
    meaning: Literal["review", "approval", "responsibility", "authorship"]
    statement: str
    cite: tuple[Citation, ...]


class Rule(_M):
    note: str
    cite: tuple[Citation, ...]


class ESignature(_M):
    meanings: dict[Literal["discharge", "acknowledgement", "lock", "consent"], Meaning]
    rules: dict[str, Rule]

    def citations(self) -> list[Citation]:
        return [c for m in self.meanings.values() for c in m.cite] + [
            c for r in self.rules.values() for c in r.cite
        ]


@cache
def load_esignature() -> ESignature:
    """The meanings and rules, checked against ``sources.yaml`` (KnowledgeError if not)."""
    return load_model("esignature.yaml", ESignature)
