"""Esketamine nasal spray: the Perez-Ruixo 2021 population PK model (nlmixr2lib transcription).

States (amounts, mg; time in hours): nasal depot, swallowed depot, esketamine central,
two peripherals, hepato-portal (liver) compartment, noresketamine central and peripheral.
A nasal dose of n 28-mg devices puts FRn_eff x dose into the nasal depot, with
FRn_eff = FRn (1 + (n - 1) 0.62) / n, and (1 - FRn_eff) Fgut x dose into the swallowed depot
as a zero-order input over Dsw. Elimination is from the liver (kel, and kmet to noresketamine;
well-stirred first pass). Linear, so solved exactly by :func:`raad.pharm.linear.solve`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_number, check_patients, check_times
from .errors import PharmInputError
from .linear import Bolus, Infusion, solve
from .params import pharmacology

NASAL, SWALLOWED, CENTRAL, P1, P2, LIVER, NK, NKP = range(8)


@dataclass(frozen=True)
class EsketamineResult:
    times_h: np.ndarray
    conc_ng_ml: np.ndarray  # (patients, times)
    noresketamine_ng_ml: np.ndarray
    dose_mg: float
    inputs: dict

    def to_dict(self) -> dict:
        return {
            "inputs": self.inputs,
            "times_h": self.times_h.tolist(),
            "esketamine_ng_ml_median": np.median(self.conc_ng_ml, axis=0).tolist(),
            "noresketamine_ng_ml_median": np.median(self.noresketamine_ng_ml, axis=0).tolist(),
        }


def effective_fr_nasal(fr: np.ndarray | float, dose_mg: float) -> np.ndarray:
    """Per-dose nasal fraction: later 28-mg sprays absorb 0.62 x as much (Table 3)."""
    e = pharmacology().esketamine_nasal
    n = dose_mg / e.mg_per_spray_device
    return np.asarray(fr) * (1 + (n - 1) * e.fr_nasal_later_spray_factor) / n


def _system(patients: int, age_years: float, vary: bool, seed: int):
    e = pharmacology().esketamine_nasal
    rng = np.random.default_rng(seed)
    om = e.omega2

    def f(key: str) -> np.ndarray:
        if not vary:
            return np.ones(patients)
        return np.exp(rng.normal(0.0, np.sqrt(om[key]), patients))

    logit = np.log(e.fr_nasal / (1 - e.fr_nasal))
    if vary:
        logit = logit + rng.normal(0.0, np.sqrt(om["logit_fr_nasal"]), patients)
    fr = 1 / (1 + np.exp(-np.broadcast_to(logit, (patients,))))
    ka_n = e.ka_nasal_per_h * f("ka_nasal")
    ka_sw = e.ka_swallowed_per_h * f("ka_swallowed")
    vc, vp1, vh = e.vc_l * f("vc"), e.vp1_l * f("vp1"), e.vh_l * f("vh")
    qh = (e.qh_l_h - e.qh_decline_l_h_per_year_over_60 * max(0.0, age_years - 60)) * f("qh")
    kel = e.kel_per_h * f("kel")
    kmet = np.full(patients, e.kmet_per_h)
    n = e.noresketamine
    vcn, cln = n.vc_l * f("noresketamine_vc"), n.cl_l_h * f("noresketamine_cl")
    K = np.zeros((patients, 8, 8))
    K[:, NASAL, NASAL] = -ka_n
    K[:, SWALLOWED, SWALLOWED] = -ka_sw
    K[:, CENTRAL, NASAL] = ka_n
    K[:, CENTRAL, CENTRAL] = -(e.q1_l_h + e.q2_l_h + qh) / vc
    K[:, CENTRAL, P1] = e.q1_l_h / vp1
    K[:, CENTRAL, P2] = e.q2_l_h / e.vp2_l
    K[:, CENTRAL, LIVER] = qh / vh
    K[:, P1, CENTRAL], K[:, P1, P1] = e.q1_l_h / vc, -e.q1_l_h / vp1
    K[:, P2, CENTRAL], K[:, P2, P2] = e.q2_l_h / vc, -e.q2_l_h / e.vp2_l
    K[:, LIVER, SWALLOWED] = ka_sw
    K[:, LIVER, CENTRAL] = qh / vc
    K[:, LIVER, LIVER] = -(qh / vh + kel + kmet)
    K[:, NK, LIVER] = kmet
    K[:, NK, NK] = -(cln + n.q_l_h) / vcn
    K[:, NK, NKP] = n.q_l_h / n.vp_l
    K[:, NKP, NK], K[:, NKP, NKP] = n.q_l_h / vcn, -n.q_l_h / n.vp_l
    return K, fr, vc, vcn


def simulate_esketamine(
    dose_mg: float,
    times_h: np.ndarray | list[float],
    *,
    patients: int = 1,
    age_years: float = 45.0,
    sessions_start_h: tuple[float, ...] = (0.0,),
    variability: bool | None = None,
    seed: int = 0,
) -> EsketamineResult:
    """Plasma esketamine and noresketamine (ng/mL) after nasal doses at ``sessions_start_h``."""
    e = pharmacology().esketamine_nasal
    check_number("dose_mg", dose_mg, e.mg_per_spray_device, 4 * e.mg_per_spray_device)
    if dose_mg % e.mg_per_spray_device:
        raise PharmInputError("dose_mg", dose_mg, f"a multiple of {e.mg_per_spray_device:g} mg")
    check_number("age_years", age_years, 18, 120)
    check_patients(patients)
    t = check_times("times_h", times_h)
    vary = (patients > 1) if variability is None else bool(variability)
    K, fr, vc, vcn = _system(patients, age_years, vary, seed)
    fr_eff = effective_fr_nasal(fr, dose_mg)
    swallowed = (1 - fr_eff) * e.f_gut * dose_mg
    inputs: list[Bolus | Infusion] = []
    for s in sessions_start_h:
        inputs.append(Bolus(s, NASAL, fr_eff * dose_mg))
        inputs.append(
            Infusion(s, s + e.swallowed_duration_h, SWALLOWED, swallowed / e.swallowed_duration_h)
        )
    conc, nk = solve(K, t, inputs, observe=[CENTRAL, NK], by_state=True)
    conc *= 1000 / vc[:, None]  # mg/L -> ng/mL, in place
    nk *= 1000 / vcn[:, None]
    args = {"dose_mg": dose_mg, "age_years": age_years, "patients": patients, "seed": seed}
    return EsketamineResult(t, conc, nk, dose_mg, args)
