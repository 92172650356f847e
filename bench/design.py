"""Trial-design simulation speed: raad's vectorised ``simulate_design`` against a per-trial
loop of statsmodels' MixedLM, the usual way to analyse repeated measures.

Run: ``.venv/bin/python bench/design.py [--trials 10000] [--n-per-arm 30] [--subset 40]``

Both sides simulate three-arm trials (placebo, 25%, 50%; SMD -0.65 for each dose vs placebo,
4 weekly visits, correlation 0.5 between visits, 5% dropout before each visit) from the same
generator. raad analyses all ``--trials`` at once (summary measures, Holm); the peer fits
``MixedLM(y ~ C(arm) + C(visit), groups=patient)`` (random intercept, REML) to each of the
first ``--subset`` trials, its time scaled to ``--trials`` (the per-trial cost does not depend
on the trial). The two analyses differ (a patient-mean t-test against a mixed model), so both
powers are printed for context; the last line is the speed ratio, peer / raad (target >= 100).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
from rich.console import Console

from raad.pharm.design import generate, simulate_design


def mixedlm_loop(y: np.ndarray) -> tuple[float, np.ndarray]:
    """Fit a random-intercept model to each trial of ``y`` (m, arms, n, visits); seconds and
    Holm-adjusted rejections of each dose in the better direction."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.multitest import multipletests

    m, arms, n, visits = y.shape
    arm = np.repeat(np.arange(arms), n * visits)
    patient = np.repeat(np.arange(arms * n), visits)
    visit = np.tile(np.arange(visits), arms * n)
    rejects = np.zeros((m, arms - 1), dtype=bool)
    t0 = time.perf_counter()
    for i in range(m):
        frame = pd.DataFrame({"y": y[i].ravel(), "arm": arm, "patient": patient, "visit": visit})
        frame = frame.dropna()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = smf.mixedlm("y ~ C(arm) + C(visit)", frame, groups=frame["patient"]).fit(
                reml=True
            )
        names = [f"C(arm)[T.{a}]" for a in range(1, arms)]
        p = [fit.pvalues[k] for k in names]
        holm = multipletests(p, alpha=0.05, method="holm")[0]
        rejects[i] = holm & (np.array([fit.params[k] for k in names]) < 0)
    return time.perf_counter() - t0, rejects


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--n-per-arm", type=int, default=30)
    ap.add_argument("--subset", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    console = Console(stderr=True)
    doses, effects = [0, 0.25, 0.5], [0.0, -0.65, -0.65]
    common = dict(visits=4, rho=0.5, dropout=0.05)
    best = float("inf")
    with console.status(f"raad: {a.trials} trials"):
        for _ in range(3):
            t0 = time.perf_counter()
            res = simulate_design(
                doses, effects, a.n_per_arm, trials=a.trials, seed=a.seed, **common
            )
            best = min(best, time.perf_counter() - t0)
    print(
        f"raad simulate_design: {a.trials} trials in {best:.3f} s (best of 3); power {res.power:.3f}"
    )
    rng = np.random.default_rng(a.seed)
    y, _ = generate(rng, a.subset, np.array(effects), a.n_per_arm, 4, 0.5, 0.05)
    with console.status(f"statsmodels MixedLM: {a.subset} trials"):
        seconds, rejects = mixedlm_loop(y)
    scaled = seconds / a.subset * a.trials
    power_mlm = float(rejects.any(axis=1).mean())
    print(
        f"statsmodels MixedLM loop: {a.subset} trials in {seconds:.2f} s, "
        f"{seconds / a.subset * 1e3:.1f} ms per trial, scaled to {a.trials}: {scaled:.0f} s; "
        f"power on the subset {power_mlm:.3f} (n = {a.subset})"
    )
    print(f"speed ratio (MixedLM loop / raad): {scaled / best:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
