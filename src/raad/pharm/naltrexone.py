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


# --- a dose history -------------------------------------------------------------------


def _history(doses: list[tuple[float, float]]) -> np.ndarray:
    if not doses:
        raise PharmInputError("doses", doses, "at least one (hours, mg) pair")
    arr = np.asarray(doses, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.all(np.isfinite(arr)):
        raise PharmInputError("doses", doses, "(hours, mg) pairs")
    if np.any(arr[:, 1] < 0) or np.any(arr[:, 1] > 1000):
        raise PharmInputError("doses.mg", arr[:, 1].tolist(), "doses 0-1000 mg")
    return arr


def daily_history(
    dose_mg: float, days: int, per_day: int = 1, last_dose_h: float = 0.0
) -> list[tuple[float, float]]:
    """A regular history ending with a dose at ``last_dose_h`` (hours, mg pairs)."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise PharmInputError("days", days, "a whole number 1-3650")
    if per_day not in (1, 2, 3, 4):
        raise PharmInputError("per_day", per_day, "1-4 doses a day")
    n = days * per_day
    step = 24.0 / per_day
    return [(last_dose_h - (n - 1 - i) * step, float(dose_mg)) for i in range(n)]


def mu_blockade_history(
    doses: list[tuple[float, float]], hours: np.ndarray | list[float]
) -> dict[str, np.ndarray]:
    """Blockade at ``hours`` after a history of (hours, mg) doses, for both half-times.

    Each dose's single-dose curve (:func:`mu_blockade_after`) is turned into the dose that would
    give that blockade within 8 h, d = ED50 b / (1 - b); the doses add and the sum goes back
    through the hyperbola. A single dose gives back the single-dose curve exactly. The additivity
    is raad's assumption (competitive occupancy), not a source's.
    """
    arr = _history(doses)
    h = np.asarray(hours, dtype=float)
    if h.ndim != 1 or not np.all(np.isfinite(h)):
        raise PharmInputError("hours", hours, "finite times in hours")
    nb = pharmacology().naltrexone_mu_blockade
    out: dict[str, np.ndarray] = {"hours": h}
    for name, half in zip(("fast", "slow"), nb.blockade_half_time_h, strict=True):
        eq = np.zeros_like(h)
        for t0, dose in arr:
            b0 = dose / (dose + nb.ed50_mg)
            since = h - t0
            b = np.where(
                since < 0,
                0.0,
                np.where(
                    since <= nb.valid_hours_after_dose,
                    b0,
                    b0 * np.power(2.0, -(since - nb.valid_hours_after_dose) / half),
                ),
            )
            eq += nb.ed50_mg * b / (1 - b)
        out[name] = eq / (eq + nb.ed50_mg)
    return out


def ketamine_start(
    doses: list[tuple[float, float]], below: float, horizon_h: float = 24 * 60
) -> dict:
    """Earliest hour after the last naltrexone dose at which mu blockade falls below ``below``,
    for the fast (72 h) and slow (108 h) blockade half-time. ``below`` is the caller's: no source
    read gives the blockade below which ketamine's antidepressant effect returns."""
    if isinstance(below, bool) or not isinstance(below, int | float) or not 0 < below < 1:
        raise PharmInputError("below", below, "a fraction strictly between 0 and 1")
    arr = _history(doses)
    last = float(arr[:, 0].max())
    h = last + np.arange(0.0, horizon_h + 0.25, 0.25)
    curves = mu_blockade_history(doses, h)
    res: dict = {"last_dose_h": last, "below": below}
    for name in ("fast", "slow"):
        idx = np.flatnonzero(curves[name] < below)
        res[f"{name}_h_after_last_dose"] = float(h[idx[0]] - last) if idx.size else None
    return res


# --- plasma naltrexone and 6-beta-naltrexol ---------------------------------------------


def bateman_constants(half_life_h: float, tmax_h: float, cmax: float) -> tuple[float, float, float]:
    """(ka, ke, A) of c(t) = A (exp(-ke t) - exp(-ka t)) with the given half-life, peak time and
    peak: tmax = ln(ka / ke) / (ka - ke) (one-compartment oral model, Gibaldi & Perrier ch. 1)."""
    from scipy.optimize import brentq

    ke = math.log(2) / half_life_h
    if tmax_h >= 1 / ke:
        raise PharmInputError("tmax_h", tmax_h, f"below 1/ke = {1 / ke:.2f} h")
    ka = brentq(lambda k: math.log(k / ke) / (k - ke) - tmax_h, ke * (1 + 1e-9), 1e4)
    amp = cmax / (math.exp(-ke * tmax_h) - math.exp(-ka * tmax_h))
    return ka, ke, amp


def plasma(
    doses: list[tuple[float, float]], hours: np.ndarray | list[float]
) -> dict[str, np.ndarray]:
    """Naltrexone and 6-beta-naltrexol (ng/mL) by superposition of Bateman curves calibrated to
    the label (linear in dose; a description of the label's numbers, not a population model)."""
    arr = _history(doses)
    h = np.asarray(hours, dtype=float)
    pk = pharmacology().naltrexone_pk
    out: dict[str, np.ndarray] = {"hours": h}
    for name in ("naltrexone", "naltrexol"):
        a = getattr(pk, name)
        ka, ke, amp = bateman_constants(a.half_life_h, pk.tmax_h, a.cmax_ng_ml)
        c = np.zeros_like(h)
        for t0, dose in arr:
            s = np.clip(h - t0, 0, None)
            c += dose / pk.reference_dose_mg * amp * (np.exp(-ke * s) - np.exp(-ka * s))
        out[name] = c
    return out
