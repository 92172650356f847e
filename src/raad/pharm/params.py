"""The cited parameters (knowledge/pharmacology.yaml), validated on load."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict

from raad.knowledge import Citation, load_sources
from raad.knowledge.sources import KnowledgeError


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompartmentModel(_M):
    label: str
    v1_l_per_kg: float
    k10: float
    k12: float = 0.0
    k21: float = 0.0
    k13: float = 0.0
    k31: float = 0.0
    cite: tuple[Citation, ...]

    @property
    def compartments(self) -> int:
        return 3 if self.k13 or self.k31 else 2


class Variability(_M):
    omega2_v: float
    omega2_cl: float
    note: str
    cite: tuple[Citation, ...]


class Observed(_M):
    end_of_infusion_ng_ml: float
    dissociation_range_ng_ml: tuple[float, float]
    regimen: dict[str, float]
    cite: tuple[Citation, ...]


class KetamineIV(_M):
    default: str
    note: str
    models: dict[str, CompartmentModel]
    variability: Variability
    observed: Observed


class Steady(_M):
    mean_percent: float
    sd_percent: float


class MuBlockade(_M):
    ed50_mg: float
    valid_hours_after_dose: float
    pet_points: tuple[tuple[float, float], ...]
    steady_state_50mg: Steady
    blockade_half_time_h: tuple[float, float]
    cite: tuple[Citation, ...]


class Pharmacology(_M):
    ketamine_iv: KetamineIV
    naltrexone_mu_blockade: MuBlockade


def _citations(p: Pharmacology) -> list[Citation]:
    k = p.ketamine_iv
    out = [c for m in k.models.values() for c in m.cite]
    return (
        out + list(k.variability.cite) + list(k.observed.cite) + list(p.naltrexone_mu_blockade.cite)
    )


@cache
def pharmacology() -> Pharmacology:
    raw = yaml.safe_load(
        resources.files("raad.knowledge").joinpath("pharmacology.yaml").read_text()
    )
    try:
        p = Pharmacology.model_validate(raw)
    except Exception as exc:
        raise KnowledgeError(f"pharmacology.yaml: {exc}") from exc
    if p.ketamine_iv.default not in p.ketamine_iv.models:
        raise KnowledgeError(
            f"pharmacology.yaml: default model {p.ketamine_iv.default!r} is not defined"
        )
    load_sources().check(_citations(p), "pharmacology.yaml")
    return p
