"""Ketamine IV over virtual patients: raad's batched closed form against a per-patient
``scipy.integrate.solve_ivp`` loop (the straightforward way), in the same run.

    .venv/bin/python bench/sim.py [--patients 10000] [--times 500] [--loop 100]

The loop runs on ``--loop`` patients and its time per patient is scaled to ``--patients``; the
two agree to the printed tolerance on the patients both computed. The speed ratio prints last.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from raad.pharm import simulate_ketamine_iv
from raad.pharm.ketamine import amounts_ode
from raad.pharm.params import pharmacology


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--times", type=int, default=500)
    ap.add_argument("--loop", type=int, default=100)
    a = ap.parse_args()
    t = np.linspace(0, 480, a.times)
    t0 = time.perf_counter()
    pop = simulate_ketamine_iv(0.5, 40, t, patients=a.patients, seed=1)
    fast = time.perf_counter() - t0
    k = pharmacology().ketamine_iv
    m = k.models[k.default]
    rng = np.random.default_rng(1)  # the same draws as the batched run
    f_v = np.exp(rng.normal(0.0, np.sqrt(k.variability.omega2_v), a.patients))
    f_cl = np.exp(rng.normal(0.0, np.sqrt(k.variability.omega2_cl), a.patients))
    t0 = time.perf_counter()
    worst = 0.0
    for i in range(a.loop):
        mi = m.model_copy(update={"k10": m.k10 * f_cl[i] / f_v[i]})
        v1 = m.v1_l_per_kg * 70 * f_v[i]
        c = amounts_ode(mi, 35.0, 40.0, t)[:, 0] / v1 * 1000
        worst = max(worst, float(np.max(np.abs(c - pop.conc_ng_ml[i]))))
    loop = (time.perf_counter() - t0) / a.loop * a.patients
    print(f"{a.patients} virtual patients x {a.times} time points, {k.default} model")
    print(f"batched closed form: {fast:.2f} s")
    print(f"solve_ivp loop:      {loop:.2f} s (measured on {a.loop} patients, scaled)")
    print(f"largest difference on the patients both computed: {worst:.2e} ng/mL")
    print(f"speed ratio (loop / batched): {loop / fast:.0f}x")


if __name__ == "__main__":
    main()
