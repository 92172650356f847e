"""Racemic ketamine IV: a linear mammillary compartment model solved in closed form.

With amounts x (mg) in the central and peripheral compartments and a zero-order infusion of rate
R (mg/min) into the central one, dx/dt = K x + R e1, where K holds the micro-constants
(k10, k12, k21, k13, k31; Gibaldi & Perrier, Pharmacokinetics, ch. 3). During the infusion
x(t) = (exp(Kt) - I) K^-1 R e1; afterwards x(t) = exp(K (t - T)) x(T). Concentration is
x1 / V1. Virtual patients differ by log-normal factors on V1 and on clearance (k10 V1);
the solution is a sum of exponentials from a batched eigendecomposition of K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
    x1 = _central_amount(K, rate, float(infusion_min), t)
    conc = x1 / v1[:, None] * 1000.0  # mg/L -> ng/mL
    return KetamineResult(name, t, conc, dose, float(infusion_min))


def _central_amount(K: np.ndarray, rate: np.ndarray, T: float, t: np.ndarray) -> np.ndarray:
    """Central amount (N, times) as a sum of exponentials.

    K = V diag(lambda) V^-1 (a mammillary model's eigenvalues are real, negative and distinct), so
    with w = V^-1 e1 and c_j = R V[0, j] w_j / lambda_j: x1(t) = sum_j c_j (exp(lambda_j t) - 1)
    during the infusion and sum_j c_j (exp(lambda_j T) - 1) exp(lambda_j (t - T)) after it.
    """
    lam, V = np.linalg.eig(K)
    if np.iscomplexobj(lam):
        if np.max(np.abs(lam.imag)) > 1e-12:
            raise PharmInputError("model", "complex eigenvalues", "a mammillary compartment model")
        lam, V = lam.real, V.real
    w = np.linalg.solve(V, np.broadcast_to(np.eye(K.shape[-1])[0], lam.shape)[..., None])[..., 0]
    c = rate[:, None] * V[:, 0, :] * w / lam  # (N, n)
    x1 = np.empty((lam.shape[0], t.size))
    inside = t <= T
    if inside.any():
        x1[:, inside] = np.einsum("pj,ptj->pt", c, np.expm1(lam[:, None, :] * t[inside][None, :, None]))
    if (~inside).any():
        at_end = c * np.expm1(lam * T)  # (N, n)
        decay = np.exp(lam[:, None, :] * (t[~inside] - T)[None, :, None])
        x1[:, ~inside] = np.einsum("pj,ptj->pt", at_end, decay)
    return x1


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
