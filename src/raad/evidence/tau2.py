"""Estimators of the between-study variance tau².

Definitions as in metafor's ``rma.uni`` (Viechtbauer 2010; Viechtbauer 2005, J Educ Behav Stat
30(3):261-293, doi:10.3102/10769986030003261) and the references given per estimator.
All estimates are truncated at 0. ``y`` are the effect sizes, ``v`` the sampling variances and
``X`` the k x p design matrix (a column of ones for a model without moderators).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import optimize

from .errors import ConvergenceError, EvidenceInputError
from .linalg import p_matrix, q_gen, wls

METHODS = ("FE", "DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS")
METHOD_ALIASES = {"EE": "FE", "CE": "FE"}
METHOD_NAMES = {
    "FE": "fixed-effects (common-effect)",
    "DL": "DerSimonian-Laird",
    "REML": "restricted maximum likelihood",
    "ML": "maximum likelihood",
    "PM": "Paule-Mandel",
    "HE": "Hedges",
    "SJ": "Sidik-Jonkman",
    "EB": "empirical Bayes",
    "HS": "Hunter-Schmidt",
}


@dataclass(frozen=True)
class Control:
    """Convergence settings.

    The defaults converge fully (``threshold`` on the change in tau² for Fisher scoring,
    ``tol`` for root finding). ``Control.metafor_default()`` gives metafor's looser defaults
    (threshold 1e-5, tol ``.Machine$double.eps^0.25``, maxiter 100) to reproduce its printout.
    """

    threshold: float = 1e-12
    maxiter: int = 100  # as metafor; past it, the Brent fallback (if enabled) takes over
    tol: float = 1e-12
    tau2_init: float | None = None
    tau2_max: float = 100.0
    step_adj: float = 1.0
    ll0check: bool = True
    fallback: bool = True  # solve the estimating equation by Brent's method if scoring cycles
    # rma_batch only: Newton steps (observed information where positive) instead of Fisher
    # scoring; the same root, fewer iterations (the scalar rma always uses Fisher scoring)
    newton: bool = True

    @classmethod
    def metafor_default(cls) -> Control:
        return cls(
            threshold=1e-5,
            maxiter=100,
            tol=float(np.finfo(float).eps) ** 0.25,
            fallback=False,
            newton=False,
        )

    @classmethod
    def coerce(cls, value: Control | dict[str, Any] | None) -> Control:
        if value is None:
            return cls()
        if isinstance(value, Control):
            return value
        if isinstance(value, dict):
            allowed = set(cls.__dataclass_fields__)
            unknown = set(value) - allowed
            if unknown:
                raise EvidenceInputError(
                    "control", sorted(unknown), f"keys among {sorted(allowed)}"
                )
            return replace(cls(), **value)
        raise EvidenceInputError("control", value, "a Control, a dict or None")


@dataclass(frozen=True)
class Tau2Estimate:
    """A tau² estimate with its standard error and how it was reached."""

    tau2: float
    se_tau2: float
    iterations: int = 0
    tau2_0: float | None = None  # Sidik-Jonkman starting value
    algorithm: str = "closed form"


def normalise_method(method: str) -> str:
    """Upper-case ``method`` and map aliases; raise naming ``method`` if unknown."""
    if not isinstance(method, str):
        raise EvidenceInputError("method", method, f"one of {', '.join(METHODS)}")
    m = METHOD_ALIASES.get(method.upper(), method.upper())
    if m not in METHODS:
        raise EvidenceInputError("method", method, f"one of {', '.join(METHODS)}")
    return m


def estimate(
    method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray, control: Control
) -> Tau2Estimate:
    """Estimate tau² by ``method`` (already normalised)."""
    k, p = X.shape
    if method == "FE":
        return Tau2Estimate(0.0, math.nan)
    if k - p < 1:
        raise EvidenceInputError(
            "yi",
            f"k={k} studies for {p} coefficient(s)",
            f"at least {p + 1} studies to estimate tau2 with method={method!r}",
        )
    return _ESTIMATORS[method](y, v, X, control)


def _dl(y, v, X, control) -> Tau2Estimate:
    """DerSimonian & Laird (1986): ``(Q - (k-p)) / tr(P)`` with ``w = 1/v``."""
    k, p = X.shape
    P = p_matrix(X, 1.0 / v)
    trP = float(np.trace(P))
    tau2 = max(0.0, (float(y @ P @ y) - (k - p)) / trP)
    se = math.sqrt((2 * (k - p) + 4 * tau2 * trP + 2 * tau2**2 * np.sum(P * P)) / trP**2)
    return Tau2Estimate(tau2, se)


def _he(y, v, X, control) -> Tau2Estimate:
    """Hedges (1983) method of moments on unweighted residuals."""
    k, p = X.shape
    tau2_raw, P0 = _he_raw(y, v, X)
    tau2 = max(0.0, tau2_raw)
    trPV = float(np.sum(np.diag(P0) * v))
    tr_pvpv = float(np.sum(P0**2 * np.outer(v, v)))
    se = math.sqrt((2 * tr_pvpv + 4 * tau2 * trPV + 2 * tau2**2 * (k - p)) / (k - p) ** 2)
    return Tau2Estimate(tau2, se)


def _he_raw(y, v, X) -> tuple[float, np.ndarray]:
    k, p = X.shape
    P0 = p_matrix(X, np.ones(k))
    return (float(y @ P0 @ y) - float(np.sum(np.diag(P0) * v))) / (k - p), P0


def _hs(y, v, X, control) -> Tau2Estimate:
    """Hunter & Schmidt (2004): ``(Q - k) / sum(1/v)``."""
    k, p = X.shape
    w = 1.0 / v
    P = p_matrix(X, w)
    tau2 = max(0.0, (float(y @ P @ y) - k) / np.sum(w))
    se = math.sqrt(
        (2 * (k - p) + 4 * tau2 * np.trace(P) + 2 * tau2**2 * np.sum(P * P)) / np.sum(w) ** 2
    )
    return Tau2Estimate(tau2, se)


def _sj(y, v, X, control) -> Tau2Estimate:
    """Sidik & Jonkman (2005): one step from ``tau2_0 = var(y) (k-1)/k``."""
    k, p = X.shape
    tau2_0 = (
        control.tau2_init if control.tau2_init is not None else float(np.mean((y - y.mean()) ** 2))
    )
    P = p_matrix(X, 1.0 / (v + tau2_0))
    tau2 = max(0.0, tau2_0 * float(y @ P @ y) / (k - p))
    P2 = P * P
    tr_pvpv = float(np.sum(P2 * np.outer(v, v)))
    s_pvp = float(np.sum(P2 * v[None, :]))
    se = math.sqrt(
        tau2_0**2 / (k - p) ** 2 * (2 * tr_pvpv + 4 * tau2 * s_pvp + 2 * tau2**2 * np.sum(P2))
    )
    return Tau2Estimate(tau2, se, tau2_0=tau2_0)


def _pm(y, v, X, control) -> Tau2Estimate:
    """Paule & Mandel (1982): the tau² at which generalised Q equals its expectation k - p."""
    k, p = X.shape
    target = k - p
    if q_gen(y, v, X, 0.0) < target:
        tau2 = 0.0
    else:
        upper = control.tau2_max
        while q_gen(y, v, X, upper) > target:
            upper *= 10.0
            if upper > 1e12:
                raise ConvergenceError("PM", 0, "no root of Q(tau2) = k - p below 1e12")
        tau2 = optimize.brentq(
            lambda t: q_gen(y, v, X, t) - target,
            0.0,
            upper,
            xtol=control.tol,
            maxiter=control.maxiter,
        )
    w = 1.0 / (v + tau2)
    return Tau2Estimate(tau2, math.sqrt(2 * k**2 / (k - p)) / np.sum(w))


def _fisher_scoring(method: str, y, v, X, control) -> Tau2Estimate:
    """ML, REML and EB by Fisher scoring from the truncated HE estimate, with step halving.

    ML/REML: Viechtbauer (2005); EB: Morris (1983), Berkey et al. (1995).
    """
    k, p = X.shape
    tau2 = control.tau2_init if control.tau2_init is not None else max(0.0, _he_raw(y, v, X)[0])
    change = math.inf
    it = 0
    algorithm = "Fisher scoring"
    while change > control.threshold:
        it += 1
        if it > control.maxiter:
            if not control.fallback:
                raise ConvergenceError(
                    method,
                    control.maxiter,
                    f"Fisher scoring: last change in tau2 {change:.3g} > threshold "
                    f"{control.threshold:g}",
                )
            tau2 = solve_score(method, y, v, X, control)
            algorithm = f"Brent root of the {method} estimating equation (Fisher scoring cycled)"
            break
        num, den = _score_parts(method, y, v, X, tau2)
        adj = num / den * control.step_adj
        while tau2 + adj < 0.0:
            adj /= 2.0
        new = tau2 + adj
        change = abs(new - tau2)
        tau2 = new
    if method in ("ML", "REML") and control.ll0check and tau2 > control.threshold:
        reml = method == "REML"
        if loglik(y, v, X, 0.0, reml) - loglik(y, v, X, tau2, reml) > control.tol:
            warnings.warn(
                f"method={method!r}: Fisher scoring stopped at a local maximum; tau2 set to 0",
                RuntimeWarning,
                stacklevel=3,
            )
            tau2 = 0.0
    w = 1.0 / (v + tau2)
    if method == "ML":
        se = math.sqrt(2.0 / np.sum(w**2))
    elif method == "REML":
        P = p_matrix(X, w)
        se = math.sqrt(2.0 / np.sum(P * P))
    else:
        se = math.sqrt(2 * k**2 / (k - p)) / np.sum(w)
    return Tau2Estimate(tau2, se, iterations=it, algorithm=algorithm)


def _score_parts(method: str, y, v, X, tau2: float) -> tuple[float, float]:
    """Numerator (the estimating equation, zero at the solution) and Fisher information term."""
    k, p = X.shape
    w = 1.0 / (v + tau2)
    P = p_matrix(X, w)
    Py = P @ y
    if method == "ML":
        return float(Py @ Py) - float(np.sum(w)), float(np.sum(w**2))
    if method == "REML":
        return float(Py @ Py) - float(np.trace(P)), float(np.sum(P * P))
    return float(y @ Py) * k / (k - p) - k, float(np.sum(w))  # EB


def solve_score(method: str, y, v, X, control: Control) -> float:
    """Solve the ML/REML/EB estimating equation when Fisher scoring cycles.

    The equation can have several roots (the REML likelihood is not always unimodal), so
    every sign change from + to - on a log-spaced grid is refined by Brent's method and the
    candidate with the highest likelihood (0 included when the equation is negative there)
    is returned; EB has no likelihood and a single root.
    """

    def f(t: float) -> float:
        return _score_parts(method, y, v, X, t)[0]

    upper = max(control.tau2_max, 1.0)
    while f(upper) > 0:
        upper *= 10.0
        if upper > 1e12:
            raise ConvergenceError(
                method, control.maxiter, "no root of the estimating equation below 1e12"
            )
    grid = np.concatenate([[0.0], np.geomspace(1e-8 * float(np.mean(v)), upper, 240)])
    vals = (
        _score_on_grid(method, y, v, grid)
        if X.shape[1] == 1 and np.all(X == 1)
        else np.array([f(t) for t in grid])
    )
    candidates = [0.0] if vals[0] <= 0 else []
    for i in np.flatnonzero((vals[:-1] > 0) & (vals[1:] <= 0)):
        candidates.append(optimize.brentq(f, grid[i], grid[i + 1], xtol=control.tol, maxiter=500))
    if method == "EB" or len(candidates) == 1:
        return candidates[0]
    reml = method == "REML"
    return max(candidates, key=lambda t: loglik(y, v, X, t, reml))


def _score_on_grid(method: str, y, v, grid: np.ndarray) -> np.ndarray:
    """The estimating equation of a model without moderators at every grid point at once.

    With ``P = W - w w'/sum(w)``: ``y'PPy = sum w^2 r^2``, ``tr P = sum w - sum w^2 / sum w``,
    ``y'Py = sum w r^2`` (r the residuals from the weighted mean); same values as
    ``_score_parts`` without forming P.
    """
    k = len(y)
    w = 1.0 / (v[None, :] + grid[:, None])
    sw = w.sum(axis=1)
    mu = (w * y[None, :]).sum(axis=1) / sw
    r2 = (y[None, :] - mu[:, None]) ** 2
    if method == "ML":
        return (w**2 * r2).sum(axis=1) - sw
    if method == "REML":
        return (w**2 * r2).sum(axis=1) - (sw - (w**2).sum(axis=1) / sw)
    return (w * r2).sum(axis=1) * k / (k - 1) - k  # EB


def loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, reml: bool) -> float:
    """Log-likelihood (ML) or full restricted log-likelihood (REML; Harville 1977)."""
    k, p = X.shape
    w = 1.0 / (v + tau2)
    fit = wls(y, X, w)
    if not reml:
        return -0.5 * k * math.log(2 * math.pi) - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * fit.rss
    _, logdet_xx = np.linalg.slogdet(X.T @ X)
    _, logdet_xwx = np.linalg.slogdet(X.T @ (X * w[:, None]))
    return (
        -0.5 * (k - p) * math.log(2 * math.pi)
        + 0.5 * logdet_xx
        - 0.5 * np.sum(np.log(v + tau2))
        - 0.5 * logdet_xwx
        - 0.5 * fit.rss
    )


_ESTIMATORS = {
    "DL": _dl,
    "HE": _he,
    "HS": _hs,
    "SJ": _sj,
    "PM": _pm,
    "ML": lambda y, v, X, c: _fisher_scoring("ML", y, v, X, c),
    "REML": lambda y, v, X, c: _fisher_scoring("REML", y, v, X, c),
    "EB": lambda y, v, X, c: _fisher_scoring("EB", y, v, X, c),
}
