"""Cumulative meta-analysis and the permutation test of a pooled estimate, as metafor's
``cumul()`` and ``permutest()`` (intercept-only models; exact sign-flip permutations).
Checked against metafor 3.8.1 (tests/fixtures/metafor/cumul.R)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from .errors import EvidenceInputError
from .rma import RmaResult

# permutations are exhaustive up to this many studies (2^k fits); metafor's exact test too
EXACT_MAX_K = 16


def cumul(res: RmaResult, order: Any = None) -> pd.DataFrame:
    """The model refitted to the first 1, 2, ..., k studies (in ``order``: values to sort
    the studies by, e.g. publication years, ties kept in input order; default as given):
    one row per step with the study added, its estimate, se, CI, tau² and I²."""
    if not res.int_only:
        raise EvidenceInputError("mods", "a model with moderators", "a model without moderators")
    k = res.k
    if order is None:
        idx = np.arange(k)
    else:
        keys = np.asarray(order)
        if len(keys) != k:
            raise EvidenceInputError("order", f"{len(keys)} values", f"{k} values, one per study")
        idx = np.argsort(keys, kind="stable")
    rows = []
    for n in range(1, k + 1):
        take = idx[:n]
        y, v = res.yi[take], res.vi[take]
        fit = res.refit(
            y, v, method="FE" if n == 1 else res.method, test="z" if n == 1 else res.test
        )
        rows.append(
            {
                "added": res.data.slab[idx[n - 1]],
                "k": n,
                "estimate": fit.estimate,
                "se": float(fit.se_beta[0]),
                "ci_lb": float(fit.ci_lb_beta[0]),
                "ci_ub": float(fit.ci_ub_beta[0]),
                "pval": float(fit.pval_beta[0]),
                "tau2": fit.tau2,
                "i2": fit.i2,
            }
        )
    return pd.DataFrame(rows)


def permutest(res: RmaResult) -> float:
    """The exact permutation p-value of the pooled estimate of an intercept-only model:
    the share of all 2^k sign flips of yi whose |z| (or |t|) is at least the observed one
    (Follmann & Proschan 1999; metafor's ``permutest(exact = TRUE)``)."""
    if not res.int_only:
        raise EvidenceInputError("mods", "a model with moderators", "a model without moderators")
    k = res.k
    if k > EXACT_MAX_K:
        raise EvidenceInputError("k", k, f"at most {EXACT_MAX_K} studies for the exact test")
    observed = abs(float(res.zval_beta[0]))
    y, v = res.yi, res.vi
    hits = 0
    total = 0
    for signs in itertools.product((1.0, -1.0), repeat=k):
        fit = res.refit(np.asarray(signs) * y, v)
        z = abs(float(fit.zval_beta[0]))
        hits += z >= observed - 1e-8 * max(1.0, observed)  # ties count, as metafor's
        total += 1
    return hits / total
