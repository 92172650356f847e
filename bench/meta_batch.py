"""Batch meta-analysis speed: raad's vectorised ``rma_batch`` against a per-analysis loop.

Run: ``.venv/bin/python bench/meta_batch.py [--n-meta 2000] [--seed 1] [--peer auto]``

``--n-meta`` synthetic meta-analyses (seeded numpy; k uniform on 5..40, sampling variances
uniform on 0.01-0.5, true tau² drawn per analysis from {0, 0.02, 0.1, 0.5}) are fitted with
``rma_batch`` (best of ``--repeats``) and, on the same data in the same run, by the peer:

* ``Rscript`` on PATH: a loop of ``metafor::rma(yi, vi, method="REML", control=list(threshold=
  1e-12, tol=1e-12, maxiter=10000))`` over the analyses, timed inside R with ``proc.time``
  around the loop only (R's start-up and CSV reading are not counted). Analyses where metafor's
  Fisher scoring cycles (it errors after ``maxiter`` iterations) are refitted after the timed
  loop with ``stepadj=0.5``, metafor's documented remedy, so that every analysis is compared.
  For context the loop is also run with metafor's default (looser) control.
* otherwise (or ``--peer statsmodels``): a Python loop of statsmodels' ``combine_effects``.
  statsmodels has no REML, and its DerSimonian-Laird (``method_re="dl"``) does not truncate tau²
  at 0, so both sides then use Paule-Mandel (``method="PM"`` / ``method_re="iterated"``, run to
  ``atol=1e-7`` on the estimating equation). statsmodels resets tau² to 0 whenever an iterate
  overshoots the root (Q(tau²) - (k-1) < 0), which happens more often the tighter ``atol`` is;
  those analyses (tau² = 0 although Q(0) > k-1) are counted as peer failures, not compared.

A loop of raad's scalar ``rma`` over the first ``--scalar-n`` analyses is timed as well.
Estimates and standard errors must agree to 1e-6 relative (the exit status is 1 otherwise; the
data and both results of any disagreeing analysis are printed). The last line is the speed ratio:
the peer's cost per analysis over the analyses it fitted in its timed loop, divided by raad's,
so time metafor spends cycling to ``maxiter`` before erroring is reported but not counted there.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from raad.evidence import rma, rma_batch

T = TypeVar("T")
RESULT_COLUMNS = ("estimate", "se", "tau2", "ci_lb", "ci_ub")
TOLERANCE = 1e-6  # relative, estimate and se
TAU2_FLOOR = 1e-10  # absolute floor of the tau2 denominator (boundary values are ~1e-13)

R_LOOP = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
groups <- split(d, d$group)
ctl <- if (args[3] == "tight") list(threshold = 1e-12, tol = 1e-12, maxiter = 10000) else list()
fit <- function(g, control) {
  r <- tryCatch(suppressWarnings(rma(g$yi, g$vi, method = "REML", control = control)),
                error = function(e) NULL)
  if (is.null(r)) return(rep(NA_real_, 5))
  c(r$beta[1], r$se, r$tau2, r$ci.lb, r$ci.ub)
}
n <- length(groups)
res <- matrix(NA_real_, n, 5)
secs <- numeric(n)
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(n)) {
  s <- proc.time()[["elapsed"]]
  res[i, ] <- fit(groups[[i]], ctl)
  secs[i] <- proc.time()[["elapsed"]] - s
}
elapsed <- proc.time()[["elapsed"]] - t0
failed <- which(is.na(res[, 1]))
retried <- logical(n)
if (args[3] == "tight") {
  for (i in failed) {
    res[i, ] <- fit(groups[[i]], c(ctl, list(stepadj = 0.5)))
    retried[i] <- TRUE
  }
}
out <- list(elapsed = elapsed, group = as.numeric(names(groups)), failed = as.numeric(failed - 1),
            failed_secs = sum(secs[failed]), retried = retried,
            estimate = res[, 1], se = res[, 2], tau2 = res[, 3], ci_lb = res[, 4],
            ci_ub = res[, 5])
writeLines(jsonlite::toJSON(out, digits = I(17), na = "null"), args[2])
"""


@dataclass
class PeerRun:
    name: str
    who: str  # as named in the last line
    seconds: float  # the whole timed loop
    fitted: int  # analyses the timed loop fitted
    fitted_seconds: float  # time of the timed loop spent on those
    results: pd.DataFrame  # RESULT_COLUMNS by group, plus "retried"
    missing_note: str = "metafor errored even with stepadj=0.5"  # why a result can be NaN


def synthetic(n_meta: int, seed: int) -> pd.DataFrame:
    """Flat study-level data: ``group`` (0..n_meta-1), ``yi``, ``vi``."""
    rng = np.random.default_rng(seed)
    ks = rng.integers(5, 41, n_meta)
    group = np.repeat(np.arange(n_meta), ks)
    tau2 = rng.choice([0.0, 0.02, 0.1, 0.5], n_meta)[group]
    vi = rng.uniform(0.01, 0.5, len(group))
    yi = rng.normal(0.3, np.sqrt(vi + tau2))
    return pd.DataFrame({"group": group, "yi": yi, "vi": vi})


def best_of(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """The shortest wall time of ``repeats`` calls, and the last result."""
    best = float("inf")
    out = fn()  # warm-up, not timed
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def metafor_peer(data: pd.DataFrame, control: str = "tight") -> PeerRun:
    with tempfile.TemporaryDirectory() as tmp:
        csv, script, out = Path(tmp, "d.csv"), Path(tmp, "loop.R"), Path(tmp, "out.json")
        data.to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_LOOP)
        subprocess.run(["Rscript", str(script), str(csv), str(out), control], check=True)
        res = json.loads(out.read_text())
    cols = {
        c: np.array([np.nan if x is None else x for x in res[c]], dtype=float)
        for c in RESULT_COLUMNS
    }
    cols["retried"] = np.asarray(res["retried"], dtype=bool)
    index = pd.Index(np.asarray(res["group"], dtype=int), name="group")
    frame = pd.DataFrame(cols, index=index).sort_index()
    failed = np.asarray(res["failed"], dtype=int)
    elapsed, failed_secs = float(res["elapsed"][0]), float(res["failed_secs"][0])
    label = "1e-12 control" if control == "tight" else "default control"
    return PeerRun(
        name=f"metafor rma REML loop, {label}",
        who="metafor loop",
        seconds=elapsed,
        fitted=len(frame) - len(failed),
        fitted_seconds=elapsed - failed_secs,
        results=frame,
    )


def statsmodels_peer(data: pd.DataFrame, repeats: int) -> PeerRun:
    from statsmodels.stats.meta_analysis import combine_effects

    parts = [
        (int(g), part.yi.to_numpy(), part.vi.to_numpy())
        for g, part in data.groupby("group", sort=True)
    ]

    def loop() -> pd.DataFrame:
        rows = {}
        for g, y, v in parts:
            r = combine_effects(y, v, method_re="iterated", atol=1e-7, maxiter=200)
            if r.tau2 == 0 and r.q > len(y) - 1:  # reset to 0 after an overshoot
                rows[g] = (np.nan,) * len(RESULT_COLUMNS)
                continue
            lb, ub = r.conf_int()[1]  # (fixed, random, ...) effects intervals
            rows[g] = (r.mean_effect_re, r.sd_eff_w_re, r.tau2, lb, ub)
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(RESULT_COLUMNS))
        frame.index.name = "group"
        frame["retried"] = False
        return frame

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        elapsed, frame = best_of(loop, repeats)
    return PeerRun(
        name=f"statsmodels combine_effects PM loop (best of {repeats})",
        who="statsmodels loop",
        seconds=elapsed,
        fitted=len(frame),
        fitted_seconds=elapsed,
        results=frame,
        missing_note="statsmodels reset tau2 to 0 after overshooting the root (Q(0) > k-1)",
    )


def scalar_loop(data: pd.DataFrame, n: int, method: str) -> float:
    """Seconds for raad's scalar ``rma`` over the first ``n`` analyses."""
    parts = [
        (part.yi.to_numpy(), part.vi.to_numpy())
        for _, part in data[data.group < n].groupby("group", sort=True)
    ]
    t0 = time.perf_counter()
    for y, v in parts:
        rma(y, v, method=method)
    return time.perf_counter() - t0


def rel_diff(ours: pd.Series, theirs: pd.Series, floor: float) -> pd.Series:
    return (ours - theirs).abs() / np.maximum(theirs.abs(), floor)


def show_group(data: pd.DataFrame, g: int, ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    part = data[data.group == g]
    print(f"  group {g} (k={len(part)})")
    print(f"    yi = {part.yi.tolist()!r}")
    print(f"    vi = {part.vi.tolist()!r}")
    for who, frame in (("raad", ours), ("peer", theirs)):
        row = ", ".join(f"{c}={float(frame.at[g, c])!r}" for c in RESULT_COLUMNS)
        print(f"    {who}: {row}")


def row(name: str, n: int, seconds: float) -> str:
    return f"{name:<48} {n:>6} {seconds:9.3f} {1000 * seconds / n:12.4f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n-meta", type=int, default=2000, help="number of meta-analyses")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--repeats", type=int, default=5, help="timed runs of rma_batch / statsmodels (best of)"
    )
    ap.add_argument("--scalar-n", type=int, default=200, help="analyses in the scalar rma loop")
    ap.add_argument(
        "--peer",
        choices=("auto", "metafor", "statsmodels"),
        default="auto",
        help="auto: metafor if Rscript is on PATH, else statsmodels",
    )
    ap.add_argument(
        "--no-default-control", action="store_true", help="skip the metafor default-control run"
    )
    args = ap.parse_args()
    use_r = args.peer == "metafor" or (args.peer == "auto" and shutil.which("Rscript") is not None)
    method = "REML" if use_r else "PM"
    data = synthetic(args.n_meta, args.seed)
    n = args.n_meta

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t_raad, ours = best_of(
            lambda: rma_batch(data.yi, data.vi, data.group, method=method), args.repeats
        )
    n_scalar = min(args.scalar_n, n)
    t_scalar = scalar_loop(data, n_scalar, method)
    peer = metafor_peer(data) if use_r else statsmodels_peer(data, args.repeats)
    context = metafor_peer(data, "default") if use_r and not args.no_default_control else None

    print(
        f"{n} meta-analyses, k 5-40 ({len(data)} studies), seed {args.seed}, method {method}; "
        f"peer: {peer.name}"
    )
    print(f"{'peer':<48} {'n':>6} {'total s':>9} {'ms/analysis':>12}")
    print(row(f"raad rma_batch {method} (best of {args.repeats})", n, t_raad))
    print(row(f"raad rma {method} scalar loop", n_scalar, t_scalar))
    n_failed = n - peer.fitted
    if n_failed:
        print(row(f"{peer.name}, all", n, peer.seconds))
        print(row(f"{peer.name}, fitted", peer.fitted, peer.fitted_seconds))
    else:
        print(row(peer.name, n, peer.seconds))
    if context is not None:
        print(row(f"{context.name} (context)", n, context.seconds))

    t_scalar_all = t_scalar / n_scalar * n
    print(
        f"raad scalar rma loop extrapolated to {n}: {t_scalar_all:.2f} s "
        f"({t_scalar_all / t_raad:.1f}x rma_batch)"
    )
    if n_failed:
        print(
            f"{peer.who}: Fisher scoring did not converge in {n_failed} analyses (it cycles; "
            f"error after maxiter=10000), {peer.seconds - peer.fitted_seconds:.2f} s of the "
            f"timed loop; refitted afterwards with stepadj=0.5 (untimed) for the comparison"
        )
        print(f"whole timed loop incl. those / raad rma_batch: {peer.seconds / t_raad:.1f}x")
    if context is not None:
        print(
            f"{context.name} / raad rma_batch: {context.seconds / t_raad:.1f}x "
            f"(stops at threshold 1e-5, numbers differ from the converged ones)"
        )
    for msg in sorted({str(c.message) for c in caught}):
        print(f"raad warning: {msg}")

    theirs = peer.results
    missing = theirs.estimate.isna()
    if missing.any():
        print(
            f"peer gave no usable result for {int(missing.sum())} analyses ({peer.missing_note});"
            " compared on the rest"
        )
    theirs = theirs[~missing]
    mine = ours.loc[theirs.index]
    diffs = {
        c: rel_diff(mine[c], theirs[c], TAU2_FLOOR if c == "tau2" else 1e-300)
        for c in RESULT_COLUMNS
    }
    retried = theirs.index[theirs.retried]
    for c, d in diffs.items():
        label = f"{c} (abs floor 1e-10)" if c == "tau2" else c
        line = f"max relative difference, {label:<22} {d.max():.2e} (group {d.idxmax()})"
        if len(retried):
            line += f"; {d.loc[retried].max():.2e} over the {len(retried)} refitted"
        print(line)
    bad = (diffs["estimate"] > TOLERANCE) | (diffs["se"] > TOLERANCE)
    ok = not bad.any()
    print(
        f"agreement on {len(theirs)} analyses: "
        + ("estimate and se identical to 1e-6" if ok else f"DISAGREEMENT in {int(bad.sum())}")
    )
    for g in theirs.index[bad][:5]:
        show_group(data, int(g), ours, theirs)

    ratio = (peer.fitted_seconds / peer.fitted) / (t_raad / n)
    print(f"speed ratio ({peer.who} / raad rma_batch): {ratio:.1f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
