"""Likelihood-ratio test of two nested models, as metafor's ``anova(full, reduced)``.

LRT = 2 (ll_full - ll_reduced) with the difference in the number of parameters as df
(chi-squared), the models' AIC, BIC, AICc, QE and tau², and the proportion of heterogeneity
the full model's moderators account for (R², metafor's pseudo R²). Under REML only models
with the same fixed effects can be compared (their restricted likelihoods differ otherwise),
as metafor requires. Checked against metafor 3.8.1 (tests/fixtures/metafor/anova.R: dat.bcg, ~ ablat vs none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .errors import EvidenceInputError, strict_json
from .rma import RmaResult


@dataclass(frozen=True)
class AnovaResult:
    lrt: float
    df: int
    pval: float
    full: dict[str, float]
    reduced: dict[str, float]
    r2: float | None

    def to_dict(self) -> dict[str, Any]:
        return strict_json(
            {
                "lrt": self.lrt,
                "df": self.df,
                "pval": self.pval,
                "full": self.full,
                "reduced": self.reduced,
                "r2": self.r2,
            }
        )

    def __str__(self) -> str:
        head = (
            f"{'':<8}{'df':>4}{'AIC':>10}{'BIC':>10}{'AICc':>10}{'logLik':>10}{'QE':>10}{'tau2':>9}"
        )
        rows = [
            f"{name:<8}{m['parms']:>4d}{m['AIC']:>10.4f}{m['BIC']:>10.4f}{m['AICc']:>10.4f}"
            f"{m['ll']:>10.4f}{m['QE']:>10.4f}{m['tau2']:>9.4f}"
            for name, m in (("Full", self.full), ("Reduced", self.reduced))
        ]
        tail = f"LRT = {self.lrt:.4f}, df = {self.df}, p = {self.pval:.4g}"
        if self.r2 is not None:
            tail += f"; R² = {self.r2:.2f}%"
        return "\n".join([head, *rows, tail])


def _summary(res: RmaResult, method: str) -> dict[str, float]:
    stats_ = res.fit_stats[method]
    return {
        "parms": res.p + (0 if res.is_fixed else 1),
        "ll": stats_["ll"],
        "AIC": stats_["AIC"],
        "BIC": stats_["BIC"],
        "AICc": stats_["AICc"],
        "QE": res.qe,
        "tau2": res.tau2,
    }


def anova(full: RmaResult, reduced: RmaResult) -> AnovaResult:
    """Compare nested models fitted to the same studies (``full`` has more parameters)."""
    if full.k != reduced.k or not np.allclose(full.yi, reduced.yi):
        raise EvidenceInputError("reduced", "a model of other data", "the same studies as full")
    if full.method != reduced.method:
        raise EvidenceInputError(
            "reduced", reduced.method, f"the same method as full ({full.method})"
        )
    method = "REML" if full.method == "REML" else "ML"
    if method == "REML" and full.data.coef_names != reduced.data.coef_names:
        raise EvidenceInputError(
            "method",
            "REML",
            "ML fits to compare models with different moderators (restricted likelihoods are "
            "not comparable then)",
        )
    f, r = _summary(full, method), _summary(reduced, method)
    df = int(f["parms"] - r["parms"])
    if df <= 0:
        raise EvidenceInputError("full", f"{f['parms']} parameters", "more than the reduced model")
    lrt = max(0.0, 2 * (f["ll"] - r["ll"]))
    r2 = None
    if not full.is_fixed and reduced.tau2 > 0:
        r2 = max(0.0, 100 * (reduced.tau2 - full.tau2) / reduced.tau2)
    return AnovaResult(lrt, df, float(stats.chi2.sf(lrt, df)), f, r, r2)
