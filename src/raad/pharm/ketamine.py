"""Ketamine IV with norketamine: linear mammillary models over virtual patients.

Parent: two or three compartments (micro-constants per minute, Gibaldi & Perrier ch. 3), either
per kg (opentiva's Clements250, Domino, Hijazi) or for 70 kg with allometry (Fanta 2015 /
Otto 2021 S-ketamine). Norketamine: Otto 2021's two-compartment S-norketamine model fed by
``fm x k10 x central`` (fm = 1). Between-subject variability is log-normal on the central
volume and clearance of parent and metabolite (bivariate normal etas with the cited
covariance). Solved exactly by :func:`raad.pharm.linear.solve`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .checks import check_number, check_patients, check_times, check_weights, choice
from .linear import Infusion, solve, solve_ode
from .params import CompartmentModel, PhysioModel, pharmacology


@dataclass(frozen=True)
class KetamineSystem:
    """Per-patient rate matrices (1/min) and volumes (L); states: parent central,
    peripheral(s), norketamine central, norketamine peripheral."""

    model: str
    K: np.ndarray  # (N, n, n)
    v1_l: np.ndarray  # (N,)
    vm_l: np.ndarray  # (N,)
    metabolite_state: int


@dataclass(frozen=True)
class KetamineResult:
    model: str
    times_min: np.ndarray
    conc_ng_ml: np.ndarray  # ketamine, (patients, times)
    norketamine_ng_ml: np.ndarray  # (patients, times), parent mass units (Otto 2021)
    dose_mg: np.ndarray
    infusion_min: float
    inputs: dict = field(default_factory=dict)

    def percentiles(self, q: tuple[float, ...] = (5, 50, 95), metabolite: bool = False):
        return np.percentile(self.norketamine_ng_ml if metabolite else self.conc_ng_ml, q, axis=0)

    def to_dict(self) -> dict:
        p5, p50, p95 = self.percentiles()
        return {
            "model": self.model,
            "inputs": self.inputs,
            "times_min": self.times_min.tolist(),
            "ketamine_ng_ml": {"p5": p5.tolist(), "p50": p50.tolist(), "p95": p95.tolist()},
            "norketamine_ng_ml_median": np.median(self.norketamine_ng_ml, axis=0).tolist(),
        }


def _etas(rng: np.random.Generator, n: int, w2v: float, w2cl: float, cov: float) -> np.ndarray:
    """(n, 2) log-normal factors exp(eta) for V and CL."""
    return np.exp(rng.multivariate_normal([0.0, 0.0], [[w2v, cov], [cov, w2cl]], size=n))


def ketamine_system(
    model: str | None = None,
    weight_kg: float | np.ndarray = 70.0,
    patients: int = 1,
    variability: bool | None = None,
    seed: int = 0,
) -> KetamineSystem:
    """Rate matrices for ``patients`` virtual patients of the named model."""
    k = pharmacology().ketamine_iv
    name = model or k.default
    choice("model", name, list(k.models))
    check_patients(patients)
    wt = check_weights(weight_kg, patients)
    m, nk = k.models[name], k.norketamine
    vary = (patients > 1) if variability is None else bool(variability)
    rng = np.random.default_rng(seed)
    if isinstance(m, CompartmentModel):
        om = (k.variability.omega2_v, k.variability.omega2_cl, k.variability.omega_v_cl)
    else:
        om = (m.omega2_v, m.omega2_cl, m.omega_v_cl)
    f = _etas(rng, patients, *om) if vary else np.ones((patients, 2))
    fm_ = (
        _etas(rng, patients, nk.omega2_v, nk.omega2_cl, nk.omega_v_cl)
        if vary
        else np.ones((patients, 2))
    )
    if isinstance(m, CompartmentModel):
        v1 = m.v1_l_per_kg * wt * f[:, 0]
        k10 = m.k10 * f[:, 1] / f[:, 0]  # CL = k10 V1 scales by the CL factor
        k12, k21, k13, k31 = (np.full(patients, x) for x in (m.k12, m.k21, m.k13, m.k31))
    else:
        assert isinstance(m, PhysioModel)
        v1 = m.v1_l * (wt / 70) ** m.weight_exponent_v * f[:, 0]
        cl = m.cl_l_h / 60 * (wt / 70) ** m.weight_exponent_cl * f[:, 1]
        k10 = cl / v1
        k12, k21 = m.q1_l_h / 60 / v1, np.full(patients, m.q1_l_h / 60 / m.vp1_l)
        k13, k31 = m.q2_l_h / 60 / v1, np.full(patients, m.q2_l_h / 60 / m.vp2_l)
    vm = nk.v_l * (wt / 70) ** nk.weight_exponent_v * fm_[:, 0]
    km = nk.cl_l_h / 60 * (wt / 70) ** nk.weight_exponent_cl * fm_[:, 1] / vm
    kmp, kpm = nk.q_l_h / 60 / vm, np.full(patients, nk.q_l_h / 60 / nk.vp_l)
    p = m.compartments
    n = p + 2
    K = np.zeros((patients, n, n))
    K[:, 0, 0] = -(k10 + k12 + (k13 if p == 3 else 0))
    K[:, 0, 1], K[:, 1, 0], K[:, 1, 1] = k21, k12, -k21
    if p == 3:
        K[:, 0, 2], K[:, 2, 0], K[:, 2, 2] = k31, k13, -k31
    K[:, p, 0] = nk.fraction_metabolised * k10
    K[:, p, p] = -(km + kmp)
    K[:, p, p + 1], K[:, p + 1, p], K[:, p + 1, p + 1] = kpm, kmp, -kpm
    return KetamineSystem(name, K, v1, vm, p)


def simulate_ketamine_iv(
    dose_mg_per_kg: float,
    infusion_min: float,
    times_min: np.ndarray | list[float],
    *,
    weight_kg: float | np.ndarray = 70.0,
    model: str | None = None,
    patients: int = 1,
    variability: bool | None = None,
    seed: int = 0,
    sessions_start_min: tuple[float, ...] = (0.0,),
) -> KetamineResult:
    """Plasma ketamine and norketamine (ng/mL) after constant-rate infusions starting at
    ``sessions_start_min``. ``patients`` > 1 draws virtual patients (variability on)."""
    from raad.knowledge.treatment import monitoring

    limits = monitoring().plausible_ranges
    check_number("dose_mg_per_kg", dose_mg_per_kg, *limits.dose_mg_per_kg)
    check_number("infusion_min", infusion_min, 1, 24 * 60)
    t = check_times("times_min", times_min)
    sys_ = ketamine_system(model, weight_kg, patients, variability, seed)
    wt = check_weights(weight_kg, patients)
    dose = dose_mg_per_kg * wt
    rate = dose / infusion_min
    inputs = [Infusion(s, s + infusion_min, 0, rate) for s in sessions_start_min]
    conc, nk = solve(sys_.K, t, inputs, observe=[0, sys_.metabolite_state], by_state=True)
    conc *= 1000.0 / sys_.v1_l[:, None]  # mg/L -> ng/mL, in place (large arrays)
    nk *= 1000.0 / sys_.vm_l[:, None]
    args = {
        "dose_mg_per_kg": dose_mg_per_kg,
        "infusion_min": infusion_min,
        "weight_kg": float(np.mean(wt)),
        "patients": patients,
        "seed": seed,
        "sessions_start_min": list(sessions_start_min),
    }
    return KetamineResult(sys_.model, t, conc, nk, dose, float(infusion_min), args)


def simulate_ode_one(
    model: str, dose_mg: float, infusion_min: float, times_min: np.ndarray, weight_kg: float = 70
) -> np.ndarray:
    """(times, states) amounts for one typical patient by solve_ivp (the cross-check)."""
    s = ketamine_system(model, weight_kg, 1, False)
    return solve_ode(s.K[0], times_min, [Infusion(0.0, infusion_min, 0, dose_mg / infusion_min)])


def half_life_note(model: str) -> str:
    """Terminal half-life (h) of the typical 70 kg patient, for display."""
    s = ketamine_system(model)
    lam = np.linalg.eigvals(s.K[0, : s.metabolite_state, : s.metabolite_state]).real
    return f"{math.log(2) / -lam.max() / 60:.1f} h"
