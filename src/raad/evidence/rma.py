"""Fixed-, random- and mixed-effects meta-analysis (``rma``).

The model: ``y_i = x_i' beta + u_i + e_i`` with ``e_i ~ N(0, v_i)`` and ``u_i ~ N(0, tau2)``
(Viechtbauer 2010, doi:10.18637/jss.v036.i03; Raudenbush 2009). Estimates are weighted least
squares with ``w_i = 1/(v_i + tau2)``; the Knapp & Hartung (2003, doi:10.1002/sim.1482)
adjustment rescales the covariance matrix by ``sum(w r^2)/(k-p)`` and uses t(k-p).
Heterogeneity statistics follow Higgins & Thompson (2002, doi:10.1002/sim.1186) with metafor's
'typical' within-study variance ``(k-p)/tr(P)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import report
from .errors import EvidenceInputError, EvidenceWarning, strict_json
from .inputs import ModelData, model_data, normalise_level, normalise_test
from .linalg import p_matrix, wls
from .tau2 import Control, estimate, loglik, normalise_method


@dataclass
class RmaResult:
    """A fitted meta-analytic model; carries its inputs and options (see ``rma``)."""

    data: ModelData
    method: str
    test: str
    level: float
    control: Control
    tau2: float
    se_tau2: float
    iterations: int
    algorithm: str
    beta: np.ndarray
    vb: np.ndarray
    ddf: int | None
    qe: float
    qep: float
    i2: float
    h2: float
    vt: float
    qm: float
    qmp: float
    qm_df: tuple[int, int | None]
    btt: tuple[int, ...]
    r2: float | None
    fit_stats: dict[str, dict[str, float]] = field(repr=False)

    # -- coefficient table ------------------------------------------------------------------
    @property
    def k(self) -> int:
        """Studies in the model (``k_all`` minus those omitted for missing values)."""
        return len(self.data.y)

    @property
    def k_all(self) -> int:
        return self.data.k_all if self.data.k_all is not None else self.k

    @property
    def omitted(self) -> tuple[str, ...]:
        """Labels of the studies left out for a missing value (metafor's ``not.na``)."""
        return self.data.omitted

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.data.warnings

    @property
    def p(self) -> int:
        return self.data.X.shape[1]

    @property
    def yi(self) -> np.ndarray:
        return self.data.y

    @property
    def vi(self) -> np.ndarray:
        return self.data.v

    @property
    def int_only(self) -> bool:
        return self.p == 1 and self.data.intercept

    @property
    def se_beta(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vb))

    @property
    def zval_beta(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # se = 0 when all yi are equal (knha)
            return self.beta / self.se_beta

    @property
    def pval_beta(self) -> np.ndarray:
        z = np.abs(self.zval_beta)
        if self.ddf is None:
            return 2 * stats.norm.sf(z)
        return 2 * stats.t.sf(z, self.ddf)

    @property
    def crit(self) -> float:
        """Critical value for the coefficient CIs: normal, or t(k-p) with knha/t/adhoc."""
        alpha = 1 - self.level / 100
        if self.ddf is None:
            return float(stats.norm.isf(alpha / 2))
        return float(stats.t.isf(alpha / 2, self.ddf))

    @property
    def ci_lb_beta(self) -> np.ndarray:
        return self.beta - self.crit * self.se_beta

    @property
    def ci_ub_beta(self) -> np.ndarray:
        return self.beta + self.crit * self.se_beta

    def _one(self, arr: np.ndarray) -> float | np.ndarray:
        return float(arr[0]) if self.p == 1 else arr

    # metafor-style names: floats for a model without moderators, arrays otherwise
    estimate = property(lambda self: self._one(self.beta))
    se = property(lambda self: self._one(self.se_beta))
    zval = property(lambda self: self._one(self.zval_beta))
    pval = property(lambda self: self._one(self.pval_beta))
    ci_lb = property(lambda self: self._one(self.ci_lb_beta))
    ci_ub = property(lambda self: self._one(self.ci_ub_beta))

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def is_fixed(self) -> bool:
        return self.method == "FE"

    def coefficients(self) -> pd.DataFrame:
        """The coefficient table: estimate, se, zval (or tval), pval, ci_lb, ci_ub."""
        return pd.DataFrame(
            {
                "estimate": self.beta,
                "se": self.se_beta,
                ("zval" if self.ddf is None else "tval"): self.zval_beta,
                "pval": self.pval_beta,
                "ci_lb": self.ci_lb_beta,
                "ci_ub": self.ci_ub_beta,
            },
            index=list(self.data.coef_names),
        )

    def weights(self) -> np.ndarray:
        """Percentage weight of each study: ``100 w_i / sum(w)`` with ``w_i = 1/(v_i + tau2)``."""
        w = 1.0 / (self.vi + self.tau2)
        return 100 * w / w.sum()

    # -- follow-up analyses -----------------------------------------------------------------
    def predict(self, newmods: Any = None, level: float | None = None, transf=None):
        """Predicted effects with confidence and prediction intervals (see ``predict.py``)."""
        from .predict import predict

        return predict(self, newmods=newmods, level=level, transf=transf)

    def tau2_ci(self, level: float | None = None):
        """Q-profile confidence interval for tau² (and tau, I², H²; Viechtbauer 2007)."""
        from .heterogeneity import q_profile

        return q_profile(self, level=level)

    def egger(self, model: str = "rma", predictor: str = "sei"):
        """Regression test for funnel-plot asymmetry (Egger et al. 1997; Sterne & Egger 2005)."""
        from .bias import regtest

        return regtest(self, model=model, predictor=predictor)

    def trimfill(self, side: str | None = None, estimator: str = "L0", maxiter: int = 100):
        """Duval & Tweedie (2000) trim-and-fill."""
        from .bias import trimfill

        return trimfill(self, side=side, estimator=estimator, maxiter=maxiter)

    def leave1out(self) -> pd.DataFrame:
        """Refit the model leaving out each study in turn (one row per omitted study)."""
        from .influence import leave1out

        return leave1out(self)

    def baujat(self) -> pd.DataFrame:
        """Baujat diagnostics (see ``influence.baujat``)."""
        from .influence import baujat

        return baujat(self)

    def refit(self, y: np.ndarray, v: np.ndarray, **changes: Any) -> RmaResult:
        """The same model (method, test, level, control, measure) on other data without
        moderators."""
        opts = {
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "control": self.control,
            "measure": self.data.measure,
        } | changes
        return rma(y, v, **opts)

    # -- output -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Inputs, options and results as strict JSON values (a value that is not a finite
        number, e.g. an undefined z when se = 0, is None)."""
        return strict_json(self._dict())

    def _dict(self) -> dict[str, Any]:
        return {
            "model": "FE" if self.is_fixed else ("RE" if self.int_only else "ME"),
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "k": self.k,
            "k_all": self.k_all,
            "omitted": list(self.omitted),
            "warnings": list(self.warnings),
            "p": self.p,
            "measure": self.data.measure,
            "inputs": {
                "yi": self.yi.tolist(),
                "vi": self.vi.tolist(),
                "slab": list(self.data.slab),
                "X": self.data.X.tolist() if not self.int_only else None,
            },
            "coefficients": {
                name: {
                    "estimate": float(b),
                    "se": float(s),
                    "zval": float(z),
                    "pval": float(pv),
                    "ci_lb": float(lo),
                    "ci_ub": float(hi),
                }
                for name, b, s, z, pv, lo, hi in zip(
                    self.data.coef_names,
                    self.beta,
                    self.se_beta,
                    self.zval_beta,
                    self.pval_beta,
                    self.ci_lb_beta,
                    self.ci_ub_beta,
                    strict=True,
                )
            },
            "tau2": self.tau2,
            "se_tau2": _nan_none(self.se_tau2),
            "i2": self.i2,
            "h2": self.h2,
            "qe": self.qe,
            "qep": self.qep,
            "qe_df": self.k - self.p,
            "qm": self.qm,
            "qmp": self.qmp,
            "qm_df": list(self.qm_df),
            "ddf": self.ddf,
            "r2": self.r2,
            "iterations": self.iterations,
            "algorithm": self.algorithm,
            "fit_stats": self.fit_stats,
            "weights_pct": self.weights().tolist(),
        }

    def __str__(self) -> str:
        return report.format_rma(self)

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        return "<pre>" + str(self) + "</pre>"


def _nan_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def rma(
    yi: Any,
    vi: Any = None,
    *,
    sei: Any = None,
    method: str = "REML",
    test: str = "z",
    mods: Any = None,
    data: pd.DataFrame | None = None,
    level: float = 95,
    slab: Any = None,
    intercept: bool = True,
    btt: Any = None,
    control: Control | dict[str, Any] | None = None,
    na_action: str = "omit",
    measure: str | None = None,
) -> RmaResult:
    """Fit a meta-analytic model as metafor's ``rma.uni``.

    yi, vi: effect sizes and sampling variances (arrays, column names with ``data``, or an
        ``escalc`` result as ``yi``); ``sei`` instead of ``vi`` gives standard errors.
    method: FE (alias EE/CE), DL, REML, ML, PM, HE, SJ, EB, HS.
    test: "z" (Wald, normal), "knha" (Knapp-Hartung, t(k-p)), "t" (t without rescaling) or
        "adhoc" (Knapp-Hartung with the scale factor truncated at 1).
    mods: None, an array (k,) or (k, m), a DataFrame, or a patsy formula on ``data``
        (e.g. ``"~ ablat + year"``); an intercept is added unless ``intercept=False`` (arrays)
        or the formula removes it.
    btt: indices of the coefficients in the omnibus test (default: all but the intercept).
    control: convergence settings (``Control``); fully converged by default.
    na_action: "omit" (metafor's default ``na.omit``: a study with a missing yi, vi or
        moderator is left out, listed in ``omitted`` and warned about, as metafor warns) or
        "fail" (refused, naming the field and the studies).
    measure: what yi measures (metafor's ``measure``, e.g. "RR", "SMD"), for the plots and
        reports when yi and vi are plain numbers; an escalc result brings its own.
    """
    m = normalise_method(method)
    t = normalise_test(test)
    lv = normalise_level(level)
    ctl = Control.coerce(control)
    d = model_data(yi, vi, sei, mods, data, slab, intercept, na_action)
    if measure is not None and d.measure is None:
        from dataclasses import replace

        d = replace(d, measure=str(measure))
    for text in d.warnings:
        warnings.warn(text, EvidenceWarning, stacklevel=2)
    return fit(d, m, t, lv, ctl, btt)


def fit(
    d: ModelData, method: str, test: str, level: float, control: Control, btt: Any = None
) -> RmaResult:
    """Fit a validated model (``rma`` does the validation)."""
    y, v, X = d.y, d.v, d.X
    k, p = X.shape
    if k < p:
        raise EvidenceInputError(
            "yi", f"k={k} studies", f"at least {p} studies for {p} coefficients"
        )
    if test != "z" and k - p < 1:
        raise EvidenceInputError("test", test, f"'z' when k - p < 1 (k={k}, p={p})")
    est = estimate(method, y, v, X, control)
    tau2 = est.tau2
    w = 1.0 / (v + tau2)
    model = wls(y, X, w)
    vb = model.xtwx_inv
    ddf = None
    if test in ("knha", "adhoc"):
        s2w = 0.0 if model.rss <= np.finfo(float).eps else model.rss / (k - p)
        if test == "adhoc":
            s2w = max(1.0, s2w)
        vb = s2w * vb
    if test != "z":
        ddf = k - p

    # heterogeneity: Cochran's Q with fixed-effect weights, df = k - p
    if k > p:
        P_fe = p_matrix(X, 1.0 / v)
        qe = max(0.0, float(y @ P_fe @ y))
        qep = float(stats.chi2.sf(qe, k - p))
        vt = (k - p) / float(np.trace(P_fe))
        if method == "FE":
            i2 = max(0.0, 100 * (qe - (k - p)) / qe) if qe > 0 else 0.0
            h2 = qe / (k - p)
        else:
            i2 = 100 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1
    else:
        qe, qep, i2, h2, vt = 0.0, 1.0, 0.0, 1.0, 0.0

    # omnibus test of the moderators
    sel = _btt(btt, d)
    b = model.beta[list(sel)]
    try:
        qm = float(b @ np.linalg.solve(vb[np.ix_(sel, sel)], b))
    except np.linalg.LinAlgError:  # knha with zero residual variation: no test (metafor: NA)
        qm = math.nan
    if ddf is None:
        qm_df: tuple[int, int | None] = (len(sel), None)
        qmp = float(stats.chi2.sf(qm, len(sel)))
    else:
        qm /= len(sel)
        qm_df = (len(sel), ddf)
        qmp = float(stats.f.sf(qm, len(sel), ddf)) if ddf > 0 else math.nan

    r2 = _r2(d, method, control, tau2) if (k > p > 1 and d.intercept) else None
    res = RmaResult(
        data=d,
        method=method,
        test=test,
        level=level,
        control=control,
        tau2=tau2,
        se_tau2=est.se_tau2,
        iterations=est.iterations,
        algorithm=est.algorithm,
        beta=model.beta,
        vb=vb,
        ddf=ddf,
        qe=qe,
        qep=qep,
        i2=i2,
        h2=h2,
        vt=vt,
        qm=qm,
        qmp=qmp,
        qm_df=qm_df,
        btt=sel,
        r2=r2,
        fit_stats=_fit_stats(y, v, X, tau2, method),
    )
    return res


def _btt(btt: Any, d: ModelData) -> tuple[int, ...]:
    p = d.X.shape[1]
    if btt is None:
        return tuple(range(1, p)) if (d.intercept and p > 1) else tuple(range(p))
    idx = np.atleast_1d(np.asarray(btt))
    if idx.dtype.kind not in "iu" or np.any(idx < 0) or np.any(idx >= p) or len(idx) == 0:
        raise EvidenceInputError("btt", btt, f"coefficient indices in 0..{p - 1}")
    return tuple(sorted(set(int(i) for i in idx)))


def _r2(d: ModelData, method: str, control: Control, tau2: float) -> float:
    """Pseudo R² (Raudenbush 2009): the share of tau² accounted for by the moderators.

    Fixed-effects models: metafor's adjusted R² of the weighted least-squares fit.
    """
    y, v, X = d.y, d.v, d.X
    k, p = X.shape
    if method == "FE":
        if np.all(y == y[0]):
            return 0.0
        wf = 1.0 / v
        rss = wls(y, X, wf).rss
        tss = wls(y, np.ones((k, 1)), wf).rss
        adj = 1 - (rss / (k - p)) / (tss / (k - 1))
        return max(0.0, 100 * adj)
    tau2_re = estimate(method, y, v, np.ones((k, 1)), control).tau2
    if tau2_re == 0:
        return 0.0
    return max(0.0, 100 * (tau2_re - tau2) / tau2_re)


def _fit_stats(y, v, X, tau2, method) -> dict[str, dict[str, float]]:
    """Log-likelihood, deviance, AIC, BIC and AICc under ML and REML (as metafor reports them)."""
    k, p = X.shape
    parms = p + (0 if method == "FE" else 1)
    ll_ml = loglik(y, v, X, tau2, reml=False)
    ll_reml = loglik(y, v, X, tau2, reml=True)
    sat = float(np.sum(-0.5 * np.log(2 * math.pi * v)))
    dev_ml = -2 * (ll_ml - sat) if k > p else 0.0

    def aicc(ll: float, n: int) -> float:
        m = max(n, parms + 2)
        return -2 * ll + 2 * parms * m / (m - parms - 1)

    return {
        "ML": {
            "ll": ll_ml,
            "dev": dev_ml,
            "AIC": -2 * ll_ml + 2 * parms,
            "BIC": -2 * ll_ml + parms * math.log(k),
            "AICc": aicc(ll_ml, k),
        },
        "REML": {
            "ll": ll_reml,
            "dev": -2 * ll_reml,
            "AIC": -2 * ll_reml + 2 * parms,
            "BIC": -2 * ll_reml + parms * math.log(k - p) if k > p else math.nan,
            "AICc": aicc(ll_reml, k - p),
        },
    }
