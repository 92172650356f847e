"""Racemic ketamine IV: a linear mammillary compartment model solved in closed form.

With amounts x (mg) in the central and peripheral compartments and a zero-order infusion of rate
R (mg/min) into the central one, dx/dt = K x + R e1, where K holds the micro-constants
(k10, k12, k21, k13, k31; Gibaldi & Perrier, Pharmacokinetics, ch. 3). During the infusion
x(t) = (exp(Kt) - I) K^-1 R e1; afterwards x(t) = exp(K (t - T)) x(T). Concentration is
x1 / V1. Virtual patients differ by log-normal factors on V1 and on clearance (k10 V1);
every patient's matrix exponentials are computed in one batched call (scipy.linalg.expm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from raad.knowledge.treatment import monitoring

from .errors import PharmInputError
from .params import CompartmentModel, pharmacology


def rate_matrix(m: CompartmentModel, k10: float | np.ndarray | None = None) -> np.ndarray:
    """K for one model (shape (n, n)) or, with an array ``k10``, one K per patient (N, n, n)."""
    k10 = m.k10 if k10 is None else k10
    k10 = np.asarray(k10, dtype=float)
    n = m.compartments
    K = np.zeros((*k10.shape, n, n))
    K[..., 0, 0] = -(k10 + m.k12 + (m.k13 if n == 3 else 0.0))
    K[..., 0, 1] = m.k21
    K[..., 1, 0] = m.k12
    K[..., 1, 1] = -m.k21
    if n == 3:
        K[..., 0, 2] = m.k31
        K[..., 2, 0] = m.k13
        K[..., 2, 2] = -m.k31
    return K


@dataclass(frozen=True)
class KetamineResult:
    model: str
    times_min: np.ndarray
    conc_ng_ml: np.ndarray  # (patients, times)
    dose_mg: np.ndarray  # per patient
    infusion_min: float

    def percentiles(self, q: tuple[float, ...] = (5, 50, 95)) -> np.ndarray:
        return np.percentile(self.conc_ng_ml, q, axis=0)


def _check(name: str, value: float, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PharmInputError(name, value, f"a number in {lo:g}-{hi:g}")
    if not lo <= value <= hi:
        raise PharmInputError(name, value, f"{lo:g}-{hi:g}")


def simulate_ketamine_iv(
    dose_mg_per_kg: float,
    infusion_min: float,
    times_min: np.ndarray | list[float],
    *,
    weight_kg: float = 70.0,
    model: str | None = None,
    patients: int = 1,
    variability: bool | None = None,
    seed: int = 0,
) -> KetamineResult:
    """Plasma ketamine (ng/mL) at ``times_min`` after the start of a constant-rate infusion.

    ``patients`` > 1 draws virtual patients with the cited log-normal variances on V1 and on
    clearance (``variability`` defaults to on for more than one patient).
    """
    k = pharmacology().ketamine_iv
    name = model or k.default
    if name not in k.models:
        raise PharmInputError("model", name, f"one of {', '.join(k.models)}")
    limits = monitoring().plausible_ranges
    _check("dose_mg_per_kg", dose_mg_per_kg, *limits.dose_mg_per_kg)
    _check("weight_kg", weight_kg, *limits.weight_kg)
    _check("infusion_min", infusion_min, 1, 24 * 60)
    if isinstance(patients, bool) or not isinstance(patients, int) or patients < 1:
        raise PharmInputError("patients", patients, "a whole number >= 1")
    t = np.asarray(times_min, dtype=float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise PharmInputError("times_min", times_min, "one or more times >= 0 (minutes)")
    m = k.models[name]
    rng = np.random.default_rng(seed)
    vary = (patients > 1) if variability is None else variability
    if vary:
        f_v = np.exp(rng.normal(0.0, math.sqrt(k.variability.omega2_v), patients))
        f_cl = np.exp(rng.normal(0.0, math.sqrt(k.variability.omega2_cl), patients))
    else:
        f_v = f_cl = np.ones(patients)
    v1 = m.v1_l_per_kg * weight_kg * f_v  # L
    k10 = m.k10 * f_cl / f_v  # CL = k10 V1 scales by f_cl
    dose = np.full(patients, dose_mg_per_kg * weight_kg)
    rate = dose / infusion_min  # mg/min
    K = rate_matrix(m, k10)  # (N, n, n)
    n = K.shape[-1]
    e1 = np.zeros(n)
    e1[0] = 1.0
    Kinv_e1 = np.linalg.solve(K, np.broadcast_to(e1, (patients, n))[..., None])[..., 0]  # (N, n)
    during = np.minimum(t, infusion_min)
    # amounts at min(t, T): (exp(K t) - I) K^-1 R e1
    E = expm(K[:, None] * during[None, :, None, None])  # (N, T, n, n)
    x_during = np.einsum("ptij,pj->pti", E, Kinv_e1) - Kinv_e1[:, None, :]
    x_during *= rate[:, None, None]
    after = np.maximum(t - infusion_min, 0.0)
    E2 = expm(K[:, None] * after[None, :, None, None])
    x = np.einsum("ptij,ptj->pti", E2, x_during)
    conc = x[..., 0] / v1[:, None] * 1000.0  # mg/L -> ng/mL
    return KetamineResult(name, t, conc, dose, float(infusion_min))


def amounts_ode(
    m: CompartmentModel, dose_mg: float, infusion_min: float, times_min: np.ndarray
) -> np.ndarray:
    """The same model integrated numerically (scipy solve_ivp, LSODA) — the cross-check."""
    from scipy.integrate import solve_ivp

    K = rate_matrix(m)
    n = K.shape[0]
    rate = dose_mg / infusion_min

    t = np.asarray(times_min, dtype=float)
    out = np.zeros((t.size, n))
    first = t <= infusion_min
    kw = {"method": "LSODA", "rtol": 1e-10, "atol": 1e-12}
    a = solve_ivp(
        lambda _, x: K @ x + rate * np.eye(n)[0],
        (0.0, infusion_min),
        np.zeros(n),
        t_eval=t[first],
        dense_output=True,
        **kw,
    )
    out[first] = a.y.T if first.any() else out[first]
    if (~first).any():
        b = solve_ivp(
            lambda _, x: K @ x,
            (infusion_min, float(t.max())),
            a.sol(infusion_min),
            t_eval=t[~first],
            **kw,
        )
        out[~first] = b.y.T
    return out
