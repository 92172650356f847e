"""raad.pharm against the straightforward way, in the same run.

1. Ketamine IV (with norketamine) over virtual patients: raad's batched closed form against a
   per-patient ``scipy.integrate.solve_ivp`` loop.
2. Virtual crossover trials: raad's vectorised simulation against a per-trial loop calling
   ``scipy.stats.ttest_rel``.

    .venv/bin/python bench/sim.py [--patients 10000] [--times 500] [--loop 100] [--trials 10000]

Each loop runs on a subset (``--loop`` patients, ``--trials // 10`` trials) and its time per
item is scaled to the full count; raad's side is the median of three runs; the two agree to the
printed tolerance on the items both computed. The combined speed ratio prints last.

NumPy asks Linux for transparent huge pages for large arrays; with the kernel's ``madvise``
defrag policy a fault can then stall in memory compaction, which on this machine doubled the
batched run at random (0.17 s or 0.31-0.36 s, the difference all system time). The bench
therefore sets NumPy's documented switch ``NUMPY_MADVISE_HUGEPAGE=0`` (read at import; see
https://numpy.org/doc/2.0/reference/global_state.html) unless the environment sets it; the
setting is printed. Users simulating large populations may set it the same way.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")  # before NumPy is imported (see above)

import argparse
import time

import numpy as np
from scipy import stats

from raad.pharm import simulate_ketamine_iv, simulate_trials
from raad.pharm.ketamine import ketamine_system
from raad.pharm.linear import Infusion, solve_ode


def bench_patients(patients: int, times: int, loop: int) -> tuple[float, float]:
    t = np.linspace(0, 480, times)
    simulate_ketamine_iv(0.5, 40, t, patients=10, seed=1)  # warm-up (imports, caches)
    solve_ode(ketamine_system().K[0], t[:5], [Infusion(0.0, 40.0, 0, 1.0)])
    runs = []
    for _ in range(3):  # median of three: the first run also pays the OS for fresh memory
        t0 = time.perf_counter()
        pop = simulate_ketamine_iv(0.5, 40, t, patients=patients, seed=1)
        runs.append(time.perf_counter() - t0)
    fast = float(np.median(runs))
    s = ketamine_system(None, 70.0, patients, True, 1)  # the same draws as the batched run
    t0 = time.perf_counter()
    worst = 0.0
    for i in range(loop):
        x = solve_ode(s.K[i], t, [Infusion(0.0, 40.0, 0, 35.0 / 40.0)])
        c = x[:, 0] / s.v1_l[i] * 1000
        worst = max(worst, float(np.max(np.abs(c - pop.conc_ng_ml[i]))))
    slow = (time.perf_counter() - t0) / loop * patients
    print(f"[patients] {patients} virtual patients x {times} time points, model {pop.model}")
    print(
        f"  batched closed form: {fast:.2f} s (median of 3, first {runs[0]:.2f} s); solve_ivp loop: {slow:.1f} s (scaled from {loop})"
    )
    print(f"  largest difference on the patients both computed: {worst:.1e} ng/mL")
    print(f"  ratio: {slow / fast:.0f}x")
    return fast, slow


def bench_trials(trials: int, n: int = 20, rho: float = 0.5) -> tuple[float, float]:
    simulate_trials("crossover", n, -0.65, trials=100, correlation=rho)  # warm-up (imports)
    stats.ttest_rel(np.arange(3.0), np.arange(3.0) ** 2)
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = simulate_trials("crossover", n, -0.65, trials=trials, correlation=rho, seed=5)
        runs.append(time.perf_counter() - t0)
    fast = float(np.median(runs))
    sub = max(1, trials // 10)
    rng = np.random.default_rng(5)
    t0 = time.perf_counter()
    hits = 0
    for _ in range(sub):
        level = rng.normal(0, np.sqrt(rho), n)
        a = level + rng.normal(0, np.sqrt(1 - rho), n) - 0.65
        b = level + rng.normal(0, np.sqrt(1 - rho), n)
        hits += stats.ttest_rel(a, b).pvalue < 0.05
    slow = (time.perf_counter() - t0) / sub * trials
    print(f"[trials] {trials} crossover trials x {n} patients")
    print(f"  vectorised: {fast:.2f} s; ttest_rel loop: {slow:.1f} s (scaled from {sub})")
    print(
        f"  power: vectorised {res.power:.3f}, loop {hits / sub:.3f}, analytic {res.analytic_power():.3f}"
    )
    print(f"  ratio: {slow / fast:.0f}x")
    return fast, slow


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--times", type=int, default=500)
    ap.add_argument("--loop", type=int, default=100)
    ap.add_argument("--trials", type=int, default=10_000)
    a = ap.parse_args()
    print(f"NUMPY_MADVISE_HUGEPAGE={os.environ['NUMPY_MADVISE_HUGEPAGE']}")
    f1, s1 = bench_patients(a.patients, a.times, a.loop)
    f2, s2 = bench_trials(a.trials)
    print(
        f"speed ratio (loops / raad, patients {s1 / f1:.0f}x, trials {s2 / f2:.0f}x): {(s1 + s2) / (f1 + f2):.0f}x"
    )


if __name__ == "__main__":
    main()
