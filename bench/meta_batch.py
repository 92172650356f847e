"""Batch meta-analysis speed: raad's vectorised ``rma_batch`` against a per-analysis loop.

Run: ``.venv/bin/python bench/meta_batch.py [--n-meta 2000] [--seed 1]``

2,000 synthetic meta-analyses (k drawn from 5..40; tau² from {0, 0.02, 0.1, 0.5}) are fitted by
REML with ``rma_batch`` and, on the same data in the same run, by the peer: a loop of R's
``metafor::rma(method="REML")`` timed inside R (so R's start-up is not counted) with tight
convergence control so that the numbers are the converged ones (and, for context, with
metafor's default control), or, when
``Rscript`` is absent, a Python loop of statsmodels' ``combine_effects`` (DerSimonian-Laird on
both sides, since statsmodels has no REML). The numbers must agree; the last line prints the
speed ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from raad.evidence import rma, rma_batch

R_LOOP = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
groups <- split(d, d$group)
ctl <- if (args[3] == "tight") list(threshold = 1e-12, tol = 1e-12, maxiter = 10000) else list()
t0 <- proc.time()[["elapsed"]]
res <- lapply(groups, function(g) {
  r <- tryCatch(suppressWarnings(rma(g$yi, g$vi, method = "REML", control = ctl)),
                error = function(e) NULL)
  if (is.null(r)) return(c(as.numeric(g$group[1]), NA, NA, NA, NA, NA))
  c(as.numeric(g$group[1]), r$beta[1], r$se, r$tau2, r$ci.lb, r$ci.ub)
})
elapsed <- proc.time()[["elapsed"]] - t0
m <- do.call(rbind, res)
out <- list(elapsed = elapsed, group = m[, 1], estimate = m[, 2], se = m[, 3], tau2 = m[, 4],
            ci_lb = m[, 5], ci_ub = m[, 6])
writeLines(jsonlite::toJSON(out, digits = I(17), na = "null"), args[2])
"""


def synthetic(n_meta: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ks = rng.integers(5, 41, n_meta)
    group = np.repeat(np.arange(n_meta), ks)
    tau2 = rng.choice([0.0, 0.02, 0.1, 0.5], n_meta)[group]
    vi = rng.uniform(0.01, 0.5, len(group))
    yi = rng.normal(0.3, np.sqrt(vi + tau2))
    return pd.DataFrame({"group": group, "yi": yi, "vi": vi})


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def metafor_peer(data: pd.DataFrame, control: str = "tight") -> tuple[str, float, pd.DataFrame]:
    with tempfile.TemporaryDirectory() as tmp:
        csv, script, out = Path(tmp, "d.csv"), Path(tmp, "loop.R"), Path(tmp, "out.json")
        data.to_csv(csv, index=False)
        script.write_text(R_LOOP)
        subprocess.run(["Rscript", str(script), str(csv), str(out), control], check=True)
        res = json.loads(out.read_text())
    cols = {k: np.array([np.nan if x is None else x for x in res[k]], dtype=float)
            for k in ("estimate", "se", "tau2", "ci_lb", "ci_ub")}
    frame = pd.DataFrame(cols,
                         index=pd.Index(np.asarray(res["group"], dtype=int), name="group"))
    name = f"metafor rma(REML) loop in R, {control} control"
    return name, float(res["elapsed"][0]), frame.sort_index()


def statsmodels_peer(data: pd.DataFrame) -> tuple[str, float, pd.DataFrame]:
    from statsmodels.stats.meta_analysis import combine_effects

    def loop() -> pd.DataFrame:
        rows = {}
        for g, part in data.groupby("group", sort=True):
            r = combine_effects(part.yi.to_numpy(), part.vi.to_numpy(), method_re="dl")
            rows[g] = (r.mean_effect_re, r.sd_eff_w_re, r.tau2, *r.conf_int_re())
        return pd.DataFrame.from_dict(rows, orient="index",
                                      columns=["estimate", "se", "tau2", "ci_lb", "ci_ub"])

    elapsed, frame = best_of(loop, repeats=1)
    return "statsmodels combine_effects(DL) loop", elapsed, frame


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-meta", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    data = synthetic(args.n_meta, args.seed)
    use_r = shutil.which("Rscript") is not None
    method = "REML" if use_r else "DL"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t_raad, ours = best_of(lambda: rma_batch(data.yi, data.vi, data.group, method=method))
    peer_name, t_peer, theirs = metafor_peer(data) if use_r else statsmodels_peer(data)

    n_loop = min(200, args.n_meta)
    sub = data[data.group < n_loop]
    t0 = time.perf_counter()
    for _, part in sub.groupby("group"):
        rma(part.yi.to_numpy(), part.vi.to_numpy(), method=method)
    t_scalar = (time.perf_counter() - t0) / n_loop * args.n_meta

    print(f"{args.n_meta} meta-analyses, k 5-40 ({len(data)} studies), method {method}")
    print(f"{'peer':<40} {'total s':>9} {'ms/analysis':>12}")
    print(f"{'raad rma_batch (vectorised)':<40} {t_raad:9.3f} {1000 * t_raad / args.n_meta:12.4f}")
    print(f"{'raad rma loop (extrapolated from ' + str(n_loop) + ')':<40} {t_scalar:9.3f} "
          f"{1000 * t_scalar / args.n_meta:12.4f}")
    print(f"{peer_name:<40} {t_peer:9.3f} {1000 * t_peer / args.n_meta:12.4f}")
    if use_r:
        # context: metafor's own default stopping rules (threshold 1e-5), numbers differ ~1e-5
        name_d, t_default, _ = metafor_peer(data, control="default")
        print(f"{name_d:<40} {t_default:9.3f} {1000 * t_default / args.n_meta:12.4f}"
              f"   (ratio to raad: {t_default / t_raad:.1f}x)")

    for w in {str(c.message) for c in caught}:
        print(f"raad warning (as metafor's ll(0) check): {w}")
    failed = theirs.estimate.isna()
    if failed.any():
        print(f"peer could not fit {int(failed.sum())} analyses (metafor: 'Fisher scoring algorithm "
              f"did not converge'); raad fitted them (Brent fallback); compared on the rest")
    theirs = theirs[~failed]
    ours = ours.loc[theirs.index]
    worst = {}
    for col in ("estimate", "se", "ci_lb", "ci_ub"):
        rel = np.abs(ours[col] - theirs[col]) / np.maximum(np.abs(theirs[col]), 1e-12)
        worst[col] = float(rel.max())
    tau_err = np.abs(ours.tau2 - theirs.tau2) / np.maximum(np.abs(theirs.tau2), 1e-10)
    worst["tau2 (abs floor 1e-10)"] = float(tau_err.max())
    for name, err in worst.items():
        print(f"max relative difference, {name:<22} {err:.2e}")
    ok = worst["estimate"] <= 1e-6 and worst["se"] <= 1e-6
    print("agreement:", "identical to 1e-6" if ok else "DISAGREEMENT")
    who = "metafor loop" if use_r else "statsmodels loop"
    print(f"speed ratio ({who} / raad rma_batch): {t_peer / t_raad:.1f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
