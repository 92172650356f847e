"""``simulate(regimen, patient, times)``: one entry point over the four agents' models.

The regimen is an id from ``regimens.yaml``; times are minutes from the first dose. Each curve
is an array (patients, times); N2O has no between-subject variability in its model, so it has
one row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .checks import check_number, check_patients, check_times, choice


@dataclass(frozen=True)
class Patient:
    weight_kg: float = 70.0
    age_years: float = 45.0


@dataclass(frozen=True)
class Simulation:
    regimen: str
    agent: str
    times_min: np.ndarray
    curves: dict[str, np.ndarray]
    units: dict[str, str]
    inputs: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def percentiles(self, name: str, q: tuple[float, ...] = (5, 50, 95)) -> np.ndarray:
        return np.percentile(self.curves[name], q, axis=0)

    def to_dict(self) -> dict:
        return {
            "regimen": self.regimen,
            "agent": self.agent,
            "inputs": self.inputs,
            "times_min": self.times_min.tolist(),
            "median": {k: np.median(v, axis=0).tolist() for k, v in self.curves.items()},
            "units": self.units,
            "notes": list(self.notes),
        }


def session_starts_days(sessions: int, per_week: float | None) -> list[float]:
    from raad.knowledge.treatment import schedule_conventions

    if sessions <= 1 or not per_week:
        return [0.0]
    if per_week == 2:
        offs = schedule_conventions().per_week_2_offsets_days
        return [7.0 * (i // 2) + offs[i % 2] for i in range(sessions)]
    return [i * 7.0 / per_week for i in range(sessions)]


def simulate(
    regimen: str,
    patient: Patient | None = None,
    times_min: np.ndarray | list[float] | None = None,
    *,
    patients: int = 1,
    seed: int = 0,
) -> Simulation:
    """Concentration, receptor and enzyme curves for a regimen in ``regimens.yaml``."""
    from raad.knowledge.treatment import monitoring, regimens

    regs = regimens()
    choice("regimen", regimen, sorted(regs))
    r = regs[regimen]
    pt = patient or Patient()
    lim = monitoring().plausible_ranges
    check_number("weight_kg", pt.weight_kg, *lim.weight_kg)
    check_number("age_years", pt.age_years, *lim.age_years)
    check_patients(patients)
    t = check_times("times_min", np.linspace(0, 24 * 60, 481) if times_min is None else times_min)
    args = {
        "weight_kg": pt.weight_kg,
        "age_years": pt.age_years,
        "patients": patients,
        "seed": seed,
    }
    if r.agent == "ketamine":
        from .ketamine import simulate_ketamine_iv

        starts = tuple(d * 1440.0 for d in session_starts_days(r.sessions or 1, r.per_week))
        k = simulate_ketamine_iv(
            r.dose_mg_per_kg,
            r.duration_min or 40,
            t,
            weight_kg=pt.weight_kg,
            patients=patients,
            seed=seed,
            sessions_start_min=starts,
        )
        from .nmda import ASSUMPTIONS, nmda_occupancy

        curves = {
            "ketamine": k.conc_ng_ml,
            "norketamine": k.norketamine_ng_ml,
            "nmda_occupancy": nmda_occupancy(k.conc_ng_ml, k.norketamine_ng_ml),
            "nmda_occupancy_racemic_ki": nmda_occupancy(
                k.conc_ng_ml, k.norketamine_ng_ml, ki_set="racemic"
            ),
        }
        units = {"ketamine": "ng/mL", "norketamine": "ng/mL"}
        units |= {"nmda_occupancy": "fraction", "nmda_occupancy_racemic_ki": "fraction"}
        notes = (
            f"model {k.model}; norketamine branch from Otto 2021 S-norketamine (assumption)",
            ASSUMPTIONS + "; nmda_occupancy uses the enantiomer Ki (Ebert 1997), the alternative"
            " nmda_occupancy_racemic_ki the racemic Ki (Salat 2015, secondary)",
        )
    elif r.agent == "esketamine":
        from .esketamine import simulate_esketamine

        ph = r.phases[0]
        dose = ph.first_dose_mg or ph.dose_mg[0]
        e = simulate_esketamine(
            dose, t / 60, patients=patients, age_years=max(pt.age_years, 18), seed=seed
        )
        from .nmda import ASSUMPTIONS, nmda_occupancy

        curves = {
            "esketamine": e.conc_ng_ml,
            "noresketamine": e.noresketamine_ng_ml,
            "nmda_occupancy": nmda_occupancy(e.conc_ng_ml, e.noresketamine_ng_ml, form="S"),
        }
        units = {"esketamine": "ng/mL", "noresketamine": "ng/mL", "nmda_occupancy": "fraction"}
        notes = (
            f"first {ph.name} dose, {dose} mg; Perez-Ruixo 2021 (no weight covariate)",
            ASSUMPTIONS + " (S-enantiomer Ki, Ebert 1997)",
        )
    elif r.agent == "n2o":
        from .n2o import activity, course_schedule, ms_rates, uptake

        sess = course_schedule(regimen)
        fine = np.unique(np.concatenate([t, np.arange(0, t.max() + 0.5, 0.5)]))
        p = uptake(sess, fine)
        ki, kr, pref = ms_rates()
        act = np.interp(t, fine, activity(fine, p[:, 1], np.array([ki]), np.array([kr]), pref)[0])
        idx = np.searchsorted(fine, t)
        curves = {
            "alveolar_n2o": p[idx, 0][None],
            "brain_vrg_n2o": p[idx, 1][None],
            "methionine_synthase_activity": act[None],
        }
        units = {
            "alveolar_n2o": "atm",
            "brain_vrg_n2o": "atm",
            "methionine_synthase_activity": "fraction",
        }
        notes = (
            "Cowles 1973 standard man; methionine-synthase rates are an assumption (rat data)",
        )
    else:
        from .naltrexone import mu_blockade_history, plasma

        per_day = r.doses_per_day or 1
        step = 24.0 / per_day
        hist = [(i * step, float(r.dose_mg)) for i in range((r.days or 1) * per_day)]
        h = t / 60
        pl, mu = plasma(hist, h), mu_blockade_history(hist, h)
        curves = {
            "naltrexone": pl["naltrexone"][None],
            "naltrexol_6beta": pl["naltrexol"][None],
            "mu_blockade_fast": mu["fast"][None],
            "mu_blockade_slow": mu["slow"][None],
        }
        units = {
            "naltrexone": "ng/mL",
            "naltrexol_6beta": "ng/mL",
            "mu_blockade_fast": "fraction",
            "mu_blockade_slow": "fraction",
        }
        notes = (
            "plasma: label-calibrated Bateman curves; blockade: PET dose curve, 72/108 h half-times",
        )
    return Simulation(regimen, r.agent, t, curves, units, args, notes)
