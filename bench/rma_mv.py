"""Multilevel model speed: raad's ``rma_mv`` against metafor's ``rma.mv`` on the same data.

Run: ``.venv/bin/python bench/rma_mv.py [--studies 1000] [--per-study 3] [--rho 0.5] [--seed 1]``

``--studies`` synthetic studies with ``--per-study`` effects each (seeded numpy: study and
effect-size random effects with variances 0.1 and 0.05, sampling variances uniform on
0.01-0.2, within-study sampling correlation ``--rho``, so V is block diagonal) are fitted with
``rma_mv(yi, V, random="~ 1 | study/esid", method="REML")`` and, in the same run, by
``metafor::rma.mv`` with the same V and ``sparse=TRUE`` (metafor's faster option for block
diagonal V), timed inside R with ``proc.time`` around a fit with metafor's default settings only (the
numbers compared come from a second, untimed fit with nlminb run to rel.tol 1e-12: at its
default tolerance metafor's variance components stop about 4e-6 relative from the optimum); ``--dense`` also times
metafor's default dense fit (about 33 s at 900 effects, growing with the cube of k).
Estimates, standard errors and both variance components must agree to 1e-6 relative (exit
status 1 otherwise). The last line is the time ratio raad / metafor (sparse): at most 5 is
the target.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from raad.evidence import rma_mv

R_FIT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
V <- as.matrix(read.csv(args[2], header = FALSE))
out <- list()
for (sp in if (args[3] == "dense") c(TRUE, FALSE) else TRUE) {
  t0 <- proc.time()[["elapsed"]]
  r <- rma.mv(yi, V, random = ~ 1 | study/esid, data = d, method = "REML", sparse = sp)
  t1 <- proc.time()[["elapsed"]]
  # the numbers compared: the same fit with nlminb driven to its optimum (untimed)
  r <- rma.mv(yi, V, random = ~ 1 | study/esid, data = d, method = "REML", sparse = sp,
              control = list(rel.tol = 1e-12, eval.max = 10000, iter.max = 10000))
  out[[if (sp) "sparse" else "dense"]] <- list(seconds = t1 - t0, beta = as.numeric(r$beta),
    se = as.numeric(r$se), sigma2 = as.numeric(r$sigma2))
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def simulate(studies: int, per: int, rho: float, seed: int):
    rng = np.random.default_rng(seed)
    k = studies * per
    study = np.repeat(np.arange(1, studies + 1), per)
    esid = np.tile(np.arange(1, per + 1), studies)
    vi = rng.uniform(0.01, 0.2, k)
    V = np.diag(vi)
    for s in range(studies):
        idx = slice(s * per, (s + 1) * per)
        sd = np.sqrt(vi[idx])
        block = rho * np.outer(sd, sd)
        np.fill_diagonal(block, vi[idx])
        V[idx, idx] = block
    u = np.repeat(rng.normal(0, np.sqrt(0.1), studies), per)
    w = rng.normal(0, np.sqrt(0.05), k)
    e = rng.multivariate_normal(np.zeros(k), V, method="cholesky") if k <= 4000 else None
    if e is None:
        raise SystemExit("--studies * --per-study above 4000 is not supported here")
    yi = 0.3 + u + w + e
    return pd.DataFrame({"yi": yi, "study": study, "esid": esid}), V


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=1000)
    ap.add_argument("--per-study", type=int, default=3)
    ap.add_argument("--rho", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dense", action="store_true", help="also time metafor's dense fit")
    a = ap.parse_args()
    console = Console(stderr=True)
    d, V = simulate(a.studies, a.per_study, a.rho, a.seed)
    best = float("inf")
    with console.status(f"raad rma_mv on {len(d)} effects from {a.studies} studies"):
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            res = rma_mv("yi", V, random="~ 1 | study/esid", data=d, method="REML")
            best = min(best, time.perf_counter() - t0)
    print(f"raad rma_mv: {best:.3f} s (best of {a.repeats}); beta {res.beta[0]:.6f}")
    if shutil.which("Rscript") is None:
        print("Rscript not found: no peer to compare with (install r-cran-metafor)")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        data_csv, v_csv, script = (Path(tmp) / n for n in ("d.csv", "V.csv", "fit.R"))
        d.to_csv(data_csv, index=False)
        np.savetxt(v_csv, V, delimiter=",", fmt="%.17g")
        script.write_text(R_FIT)
        with console.status("metafor rma.mv"):
            out = subprocess.run(
                ["Rscript", str(script), str(data_csv), str(v_csv), "dense" if a.dense else "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
    peer = json.loads(out)
    ok = True
    for name in peer:
        p = peer[name]
        pairs = [
            ("beta", res.beta[0], p["beta"][0] if isinstance(p["beta"], list) else p["beta"]),
            ("se", res.se[0], p["se"][0] if isinstance(p["se"], list) else p["se"]),
            ("sigma2[study]", res.sigma2[0], p["sigma2"][0]),
            ("sigma2[esid]", res.sigma2[1], p["sigma2"][1]),
        ]
        for label, ours, theirs in pairs:
            rel = abs(ours - theirs) / max(abs(theirs), 1e-12)
            if rel > 1e-6:
                ok = False
                print(f"MISMATCH {name} {label}: raad {ours!r} metafor {theirs!r} (rel {rel:.2e})")
        print(f"metafor rma.mv ({name}): {p['seconds']:.3f} s")
    print(f"agreement to 1e-6: {'yes' if ok else 'NO'}")
    print(f"time ratio raad / metafor (sparse): {best / peer['sparse']['seconds']:.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
