"""NMDA receptor occupancy by ketamine and norketamine from their binding constants.

Several ligands competing for one site occupy the fraction

    occupancy = sum_i (C_i / Ki_i) / (1 + sum_i C_i / Ki_i)

(Gaddum's equation for competing ligands at one site at equilibrium). ASSUMPTIONS, all stated with every result: the total plasma concentration stands for the
concentration at the receptor (instant equilibrium, no protein binding, no brain:plasma ratio);
a racemate circulates as equal parts S and R (parent and metabolite); the Ki come from rat brain
homogenate binding, not from human brain. No human in-vivo occupancy was found to check against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import choice
from .errors import PharmInputError
from .params import pharmacology

FORMS = ("racemic", "S")
KI_SETS = ("enantiomers", "racemic")
ROUNDING_NG_ML = 1e-6  # negative values smaller than this in size are solver rounding

ASSUMPTIONS = (
    "NMDA occupancy: total plasma concentration taken as the receptor concentration (no protein"
    " binding or brain:plasma ratio); rat-brain [3H]MK-801 Ki; racemate as equal S and R"
)


@dataclass(frozen=True)
class OccupancyInputs:
    """Molar concentrations (uM) of each species and the Ki used for it."""

    conc_um: dict[str, np.ndarray]
    ki_um: dict[str, float]


def to_micromolar(ng_ml: np.ndarray | float, species: str) -> np.ndarray:
    """ng/mL -> uM (ng/mL = ug/L; divided by g/mol gives umol/L)."""
    m = pharmacology().nmda_occupancy.molar_mass_g_mol
    choice("species", species, list(m))
    return np.asarray(ng_ml, dtype=float) / m[species]


def occupancy_inputs(
    ketamine_ng_ml: np.ndarray | float,
    norketamine_ng_ml: np.ndarray | float | None = None,
    form: str = "racemic",
    ki_set: str = "enantiomers",
) -> OccupancyInputs:
    """Species concentrations and Ki for a racemic or S (esketamine) exposure."""
    choice("form", form, FORMS)
    choice("ki_set", ki_set, KI_SETS)
    p = pharmacology().nmda_occupancy
    ket_ng = np.asarray(ketamine_ng_ml, dtype=float)
    nor_ng = np.asarray(0.0 if norketamine_ng_ml is None else norketamine_ng_ml, dtype=float)
    finite = np.all(np.isfinite(ket_ng)) and np.all(np.isfinite(nor_ng))
    if not finite or np.any(ket_ng < -ROUNDING_NG_ML) or np.any(nor_ng < -ROUNDING_NG_ML):
        raise PharmInputError("concentration", "negative or not finite", "finite values >= 0 ng/mL")
    # closed-form solutions leave rounding-level negatives near zero; they count as zero
    ket = to_micromolar(np.maximum(ket_ng, 0.0), "ketamine")
    nor = to_micromolar(np.maximum(nor_ng, 0.0), "norketamine")
    if ki_set == "racemic":
        if form != "racemic":
            raise PharmInputError("ki_set", ki_set, "'enantiomers' for an S-enantiomer exposure")
        ra = p.racemic_alternative_ki_um
        return OccupancyInputs({"ketamine": ket, "norketamine": nor}, dict(ra))
    if form == "S":
        return OccupancyInputs(
            {"s_ketamine": ket, "s_norketamine": nor},
            {"s_ketamine": p.ki_um["s_ketamine"], "s_norketamine": p.ki_um["s_norketamine"]},
        )
    half = {"ketamine": ket / 2, "norketamine": nor / 2}
    return OccupancyInputs(
        {f"{e}_{s}": half[s] for s in ("ketamine", "norketamine") for e in ("s", "r")},
        {k: p.ki_um[k] for k in ("s_ketamine", "r_ketamine", "s_norketamine", "r_norketamine")},
    )


def nmda_occupancy(
    ketamine_ng_ml: np.ndarray | float,
    norketamine_ng_ml: np.ndarray | float | None = None,
    form: str = "racemic",
    ki_set: str = "enantiomers",
) -> np.ndarray:
    """Fraction of NMDA channel sites occupied (0-1) by ketamine and norketamine together."""
    x = occupancy_inputs(ketamine_ng_ml, norketamine_ng_ml, form, ki_set)
    load = sum(x.conc_um[k] / x.ki_um[k] for k in x.conc_um)
    return load / (1.0 + load)
