"""Naltrexone's mu-opioid receptor blockade.

Within 8 h of an oral dose, blockade follows the hyperbola dose / (dose + ED50) with
ED50 = 5.59 mg fitted to PET data (Rabiner 2011, as used by Troestheim et al. 2022). Later, the
brain blockade falls with a half-time of 72-108 h (Lee et al. 1988, [11C]carfentanil PET);
raad shows both ends of that range instead of choosing one.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import PharmInputError
from .params import pharmacology


def mu_blockade(dose_mg: float | np.ndarray) -> np.ndarray:
    """Fraction of mu-opioid receptors blocked < 8 h after an oral dose (0-1)."""
    d = np.asarray(dose_mg, dtype=float)
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise PharmInputError("dose_mg", dose_mg, "a dose >= 0 mg")
    ed50 = pharmacology().naltrexone_mu_blockade.ed50_mg
    return d / (d + ed50)


def mu_blockade_after(dose_mg: float, hours: np.ndarray | list[float]) -> dict[str, np.ndarray]:
    """Blockade ``hours`` after a single dose: the < 8 h value, then halving every 72 h
    (``fast``) or every 108 h (``slow``). Returns both curves and the hours."""
    h = np.asarray(hours, dtype=float)
    if h.ndim != 1 or not np.all(np.isfinite(h)) or np.any(h < 0):
        raise PharmInputError("hours", hours, "times >= 0 h after the dose")
    nb = pharmacology().naltrexone_mu_blockade
    b0 = float(mu_blockade(dose_mg))
    window = nb.valid_hours_after_dose
    out = {"hours": h}
    for name, half in zip(("fast", "slow"), nb.blockade_half_time_h, strict=True):
        out[name] = np.where(h <= window, b0, b0 * np.power(2.0, -(h - window) / half))
    return out


def hours_until_below(dose_mg: float, fraction: float) -> tuple[float, float]:
    """Hours after a single dose until blockade falls below ``fraction`` (fast, slow half-time).

    ``fraction`` is the caller's choice: no source read gives the blockade below which ketamine's
    antidepressant effect is no longer attenuated.
    """
    if not 0 < fraction < 1:
        raise PharmInputError("fraction", fraction, "between 0 and 1 (exclusive)")
    nb = pharmacology().naltrexone_mu_blockade
    b0 = float(mu_blockade(dose_mg))
    if b0 <= fraction:
        return (0.0, 0.0)
    w = nb.valid_hours_after_dose
    fast, slow = (w + half * math.log2(b0 / fraction) for half in nb.blockade_half_time_h)
    return (fast, slow)
