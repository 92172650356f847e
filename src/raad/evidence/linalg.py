"""Weighted least-squares pieces shared by the tau² estimators and the model fit.

Notation follows Viechtbauer (2010, J Stat Softw 36(3), doi:10.18637/jss.v036.i03):
``W = diag(w)``, ``P = W - W X (X'WX)^-1 X'W``; ``y'Py`` is the weighted residual sum of
squares (the generalised Q statistic when ``w = 1/(v + tau2)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import EvidenceInputError


@dataclass(frozen=True)
class WLS:
    """A weighted least-squares fit of ``y`` on ``X`` with weights ``w``."""

    beta: np.ndarray
    xtwx_inv: np.ndarray
    rss: float


def xtwx_inverse(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``(X'WX)^-1`` via a Cholesky factorisation; singular designs raise."""
    xtwx = X.T @ (X * w[:, None])
    try:
        chol = np.linalg.cholesky(xtwx)
    except np.linalg.LinAlgError:
        raise EvidenceInputError(
            "mods", "a rank-deficient moderator matrix", "linearly independent moderators"
        ) from None
    inv_chol = np.linalg.inv(chol)
    return inv_chol.T @ inv_chol


def wls(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> WLS:
    """Weighted least squares: ``beta = (X'WX)^-1 X'Wy`` and ``sum(w (y - X beta)^2)``."""
    inv = xtwx_inverse(X, w)
    beta = inv @ (X.T @ (w * y))
    resid = y - X @ beta
    return WLS(beta=beta, xtwx_inv=inv, rss=float(np.sum(w * resid**2)))


def p_matrix(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``P = W - W X (X'WX)^-1 X'W`` (symmetric, k x k)."""
    WX = X * w[:, None]
    return np.diag(w) - WX @ xtwx_inverse(X, w) @ WX.T


def q_gen(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Generalised Q: sum(w (y - X b)^2), w = 1/(v + tau2) (DerSimonian & Kacker 2007)."""
    return wls(y, X, 1.0 / (v + tau2)).rss
