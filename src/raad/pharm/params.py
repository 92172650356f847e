"""The cited parameters (knowledge/pharmacology.yaml), validated on load.

Every ``cite`` must resolve in ``sources.yaml``;
an unknown id raises :class:`KnowledgeError` naming the file and the id.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from raad.knowledge import Citation, SourceRegistry, load_sources
from raad.knowledge.sources import KnowledgeError


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompartmentModel(_M):
    """Micro-constants per minute and a central volume per kg (opentiva's form)."""

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


class PhysioModel(_M):
    """Volumes (L) and clearances (L/h) for 70 kg with allometric exponents (NONMEM's form)."""

    label: str
    enantiomer: Literal["S", "R", "racemic"]
    v1_l: float
    cl_l_h: float
    vp1_l: float
    q1_l_h: float
    vp2_l: float
    q2_l_h: float
    weight_exponent_v: float
    weight_exponent_cl: float
    omega2_v: float
    omega2_cl: float
    omega_v_cl: float
    cite: tuple[Citation, ...]

    @property
    def compartments(self) -> int:
        return 3


class Metabolite(_M):
    label: str
    v_l: float
    cl_l_h: float
    vp_l: float
    q_l_h: float
    fraction_metabolised: float
    weight_exponent_v: float
    weight_exponent_cl: float
    omega2_v: float
    omega2_cl: float
    omega_v_cl: float
    note: str
    cite: tuple[Citation, ...]


class Variability(_M):
    omega2_v: float
    omega2_cl: float
    omega_v_cl: float
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
    models: dict[str, CompartmentModel | PhysioModel]
    norketamine: Metabolite
    variability: Variability
    observed: Observed

    @model_validator(mode="after")
    def _default(self) -> KetamineIV:
        if self.default not in self.models:
            raise ValueError(f"default model {self.default!r} is not defined")
        return self


class Steady(_M):
    mean_percent: float
    sd_percent: float


class MuBlockade(_M):
    ed50_mg: float
    valid_hours_after_dose: float
    pet_points: tuple[tuple[float, float], ...]
    steady_state_50mg: Steady
    blockade_half_time_h: tuple[float, float]
    every_second_day_50mg_at_48h_percent: tuple[float, float]
    cite: tuple[Citation, ...]


class Analyte(_M):
    cmax_ng_ml: float
    half_life_h: float


class NaltrexonePK(_M):
    reference_dose_mg: float
    tmax_h: float
    naltrexone: Analyte
    naltrexol: Analyte
    cite: tuple[Citation, ...]


class NorEsketamine(_M):
    vc_l: float
    cl_l_h: float
    vp_l: float
    q_l_h: float


class EsketamineNasal(_M):
    fr_nasal: float
    fr_nasal_later_spray_factor: float
    mg_per_spray_device: float
    ka_nasal_per_h: float
    swallowed_duration_h: float
    ka_swallowed_per_h: float
    f_gut: float
    vc_l: float
    q1_l_h: float
    vp1_l: float
    q2_l_h: float
    vp2_l: float
    qh_l_h: float
    qh_decline_l_h_per_year_over_60: float
    vh_l: float
    kel_per_h: float
    kmet_per_h: float
    noresketamine: NorEsketamine
    omega2: dict[str, float]
    note: str
    cite: tuple[Citation, ...]


class Tissues(_M):
    vrg: float
    mus: float
    fat: float


class Partition(_M):
    lung: float
    vrg: float
    mus: float
    fat: float


class N2oUptake(_M):
    cardiac_output_l_min: float
    flow_fraction: Tissues
    alveolar_ventilation_l_min: float
    tissue_volume_l: dict[Literal["lung_air", "lung_tissue", "vrg", "mus", "fat"], float]
    blood_volume_l: dict[Literal["lung", "vrg", "mus", "fat"], float]
    partition: dict[str, Partition]
    blood_gas_n2o_other: float
    cite: tuple[Citation, ...]


class MethionineSynthase(_M):
    status: Literal["assumption"]
    inhibited_fraction: float
    at_n2o_fraction: float
    within_min: float
    recovered_activity: float
    recovery_after_h: float
    recovery_from_activity: float
    inactivation_factor_range: tuple[float, float]
    resynthesis_factor_range: tuple[float, float]
    note: str
    cite: tuple[Citation, ...]


class NmdaOccupancy(_M):
    """Ki (uM) at the NMDA channel site for each enantiomer, a racemic alternative, and the
    molar masses that turn ng/mL into uM."""

    ki_um: dict[Literal["s_ketamine", "r_ketamine", "s_norketamine", "r_norketamine"], float]
    cite: tuple[Citation, ...]
    racemic_alternative_ki_um: dict[Literal["ketamine", "norketamine"], float]
    racemic_alternative_cite: tuple[Citation, ...]
    molar_mass_g_mol: dict[Literal["ketamine", "norketamine"], float]
    molar_mass_cite: tuple[Citation, ...]

    @model_validator(mode="after")
    def _complete(self) -> NmdaOccupancy:
        if len(self.ki_um) != 4 or len(self.racemic_alternative_ki_um) != 2:
            raise ValueError("nmda_occupancy needs all four enantiomer Ki and both racemic Ki")
        if len(self.molar_mass_g_mol) != 2:
            raise ValueError("nmda_occupancy needs the molar mass of ketamine and norketamine")
        if min([*self.ki_um.values(), *self.racemic_alternative_ki_um.values()]) <= 0:
            raise ValueError("every Ki must be > 0")
        return self


class Pharmacology(_M):
    nmda_occupancy: NmdaOccupancy
    ketamine_iv: KetamineIV
    naltrexone_mu_blockade: MuBlockade
    naltrexone_pk: NaltrexonePK
    esketamine_nasal: EsketamineNasal
    n2o_uptake: N2oUptake
    methionine_synthase: MethionineSynthase


def _citations(obj: Any) -> list[Citation]:
    if isinstance(obj, Citation):
        return [obj]
    if isinstance(obj, BaseModel):
        return [c for name in type(obj).model_fields for c in _citations(getattr(obj, name))]
    if isinstance(obj, dict):
        return [c for v in obj.values() for c in _citations(v)]
    if isinstance(obj, list | tuple):
        return [c for v in obj for c in _citations(v)]
    return []


def _read(name: str) -> Any:
    return yaml.safe_load(resources.files("raad.knowledge").joinpath(name).read_text("utf-8"))


def pharm_sources() -> SourceRegistry:
    """The source registry pharmacology.yaml is checked against (``sources.yaml``)."""
    return load_sources()


def validate(raw: Any, registry: SourceRegistry | None = None) -> Pharmacology:
    """Validate a parsed pharmacology.yaml and check every citation against ``registry``."""
    try:
        p = Pharmacology.model_validate(raw)
    except Exception as exc:
        raise KnowledgeError(f"pharmacology.yaml: {exc}") from exc
    (registry or pharm_sources()).check(_citations(p), "pharmacology.yaml")
    return p


@cache
def pharmacology() -> Pharmacology:
    """Load and validate ``pharmacology.yaml`` once."""
    return validate(_read("pharmacology.yaml"))
