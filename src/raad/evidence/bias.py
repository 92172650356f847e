"""Publication-bias methods: regression test for funnel asymmetry and trim-and-fill.

regtest: Egger et al. (1997, BMJ 315:629, doi:10.1136/bmj.315.7109.629) as generalised by
Sterne & Egger (2005): a meta-regression of the effects on their standard errors ("rma", the
model's own tau² method and test) or the classic weighted regression ("lm", t with k-2 df).
The intercept is the limit estimate as the standard error goes to 0.
trimfill: Duval & Tweedie (2000, Biometrics 56:455, doi:10.1111/j.0006-341X.2000.00455.x),
estimators L0, R0 and Q0; the side is chosen from the sign of the regtest-type slope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from . import report
from .errors import ConvergenceError, EvidenceInputError, strict_json
from .linalg import wls

if TYPE_CHECKING:
    from .rma import RmaResult

PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtninv")


@dataclass(frozen=True)
class RegTest:
    """Asymmetry test: statistic, p-value, df (None for z) and the limit estimate with its CI."""

    model: str
    predictor: str
    zval: float
    pval: float
    df: int | None
    est: float
    ci_lb: float
    ci_ub: float

    def to_dict(self) -> dict[str, Any]:
        """As strict JSON values (a number that is not finite is None)."""
        return strict_json(self._plain())

    def _plain(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        return report.format_regtest(self)


def regtest(res: RmaResult, model: str = "rma", predictor: str = "sei") -> RegTest:
    """Regression test for funnel-plot asymmetry on a model without moderators."""
    if not res.int_only:
        raise EvidenceInputError("mods", "a model with moderators", "a model without moderators")
    if model not in ("rma", "lm"):
        raise EvidenceInputError("model", model, "'rma' or 'lm'")
    if predictor not in ("sei", "vi"):
        raise EvidenceInputError("predictor", predictor, "'sei' or 'vi'")
    y, v = res.yi, res.vi
    x = np.sqrt(v) if predictor == "sei" else v
    need = 2 if (model == "rma" and res.is_fixed and res.test == "z") else 3
    if res.k < need:
        raise EvidenceInputError(
            "yi", f"k={res.k} studies", f"at least {need} studies for this test"
        )
    X = np.column_stack([np.ones(res.k), x])
    if model == "rma":
        from .inputs import ModelData
        from .rma import fit

        d = ModelData(y, v, X, ("intercept", predictor), True, res.data.slab, res.data.measure)
        m = fit(d, res.method, res.test, res.level, res.control)
        z = float(m.zval_beta[1])
        pv = float(m.pval_beta[1])
        return RegTest(
            "rma",
            predictor,
            z,
            pv,
            m.ddf,
            float(m.beta[0]),
            float(m.ci_lb_beta[0]),
            float(m.ci_ub_beta[0]),
        )
    f = wls(y, X, 1.0 / v)
    df = res.k - 2
    s2 = f.rss / df
    se = np.sqrt(np.diag(f.xtwx_inv) * s2)
    tval = f.beta / se
    crit = stats.t.isf((1 - res.level / 100) / 2, df)
    return RegTest(
        "lm",
        predictor,
        float(tval[1]),
        float(2 * stats.t.sf(abs(tval[1]), df)),
        df,
        float(f.beta[0]),
        float(f.beta[0] - crit * se[0]),
        float(f.beta[0] + crit * se[0]),
    )


@dataclass
class TrimFill:
    """Trim-and-fill result: the number of filled studies, their values and the refitted model."""

    k0: int
    se_k0: float
    side: str
    estimator: str
    filled_yi: np.ndarray
    filled_vi: np.ndarray
    model: RmaResult
    original: RmaResult

    @property
    def estimate(self) -> float:
        return float(self.model.estimate)

    def to_dict(self) -> dict[str, Any]:
        """As strict JSON values (a number that is not finite is None)."""
        return strict_json(self._plain())

    def _plain(self) -> dict[str, Any]:
        return {
            "k0": self.k0,
            "se_k0": self.se_k0,
            "side": self.side,
            "estimator": self.estimator,
            "filled_yi": self.filled_yi.tolist(),
            "filled_vi": self.filled_vi.tolist(),
            "model": self.model.to_dict(),
        }

    def __str__(self) -> str:
        return report.format_trimfill(self)


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else math.nan


def trimfill(
    res: RmaResult, side: str | None = None, estimator: str = "L0", maxiter: int = 100
) -> TrimFill:
    """Trim and fill on a model without moderators; the filled data are fitted with the same
    method, test and control as ``res`` (metafor refits the filled data with test="z")."""
    if not res.int_only:
        raise EvidenceInputError("mods", "a model with moderators", "a model without moderators")
    est = estimator.upper() if isinstance(estimator, str) else estimator
    if est not in ("L0", "R0", "Q0"):
        raise EvidenceInputError("estimator", estimator, "'L0', 'R0' or 'Q0'")
    y0, v0 = res.yi, res.vi
    k = res.k
    if side is None:
        from .inputs import ModelData
        from .rma import fit

        X = np.column_stack([np.ones(k), np.sqrt(v0)])
        d = ModelData(y0, v0, X, ("intercept", "sei"), True, res.data.slab, None)
        slope = fit(d, res.method, "z", res.level, res.control).beta[1]
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise EvidenceInputError("side", side, "'left', 'right' or None")
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y0, kind="stable")
    y, v = sign * y0[order], v0[order]

    k0, k0_prev, it = 0, -1, 0
    beta = math.nan
    yc = y
    se_k0 = math.nan
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise ConvergenceError("trimfill", maxiter, "k0 did not settle")
        beta = float(res.refit(y[: k - k0], v[: k - k0], test="z").beta[0])
        yc = y - beta
        ranks = stats.rankdata(np.abs(yc), method="ordinal")
        signed = np.sign(yc) * ranks
        if est == "R0":
            k0_raw = (k - np.max(-signed[signed < 0])) - 1 if np.any(signed < 0) else k - 1
            se_k0 = math.sqrt(2 * max(0.0, k0_raw) + 2)
        else:
            sr = float(np.sum(signed[signed > 0]))
            if est == "L0":
                k0_raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
            else:
                root = 2 * k**2 - 4 * sr + 0.25
                if root < 0:  # metafor stops here with "missing value where TRUE/FALSE needed"
                    raise EvidenceInputError(
                        "estimator",
                        "Q0",
                        f"L0 or R0: Q0 is undefined for these data (2k^2 - 4 Sr + 1/4 = "
                        f"{root:.4g} < 0 with k = {k})",
                    )
                k0_raw = k - 0.5 - math.sqrt(root)
            var_sr = (
                k * (k + 1) * (2 * k + 1)
                + 10 * k0_raw**3
                + 27 * k0_raw**2
                + 17 * k0_raw
                - 18 * k * k0_raw**2
                - 18 * k * k0_raw
                + 6 * k**2 * k0_raw
            ) / 24
            # a negative variance (or root) leaves SE(k0) undefined: NaN, as metafor's sqrt
            # gives, never 0 (which would claim k0 is known exactly)
            if est == "L0":
                se_k0 = 4 * _sqrt(var_sr) / (2 * k - 1)
            else:
                se_k0 = 2 * _sqrt(var_sr) / _sqrt((k - 0.5) ** 2 - k0_raw * (2 * k - k0_raw - 1))
        k0 = int(max(0, round(k0_raw)))  # R's round(): half to even, as Python's
        if not math.isnan(se_k0):
            se_k0 = max(0.0, se_k0)

    if k0 > 0:
        filled_y = sign * (2 * beta - y[k - k0 :])
        filled_v = v[k - k0 :]
        labels = [*res.data.slab, *(f"Filled {i + 1}" for i in range(k0))]
        model = res.refit(
            np.concatenate([y0, filled_y]), np.concatenate([v0, filled_v]), slab=labels
        )
    else:
        filled_y, filled_v, model = np.empty(0), np.empty(0), res
    return TrimFill(k0, se_k0, side, est, filled_y, filled_v, model, res)
