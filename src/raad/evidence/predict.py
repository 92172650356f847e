"""Predicted (pooled) effects with confidence and prediction intervals.

Prediction interval: ``pred ± crit * sqrt(se² + tau2)`` (Riley et al. 2011, BMJ 342:d549,
doi:10.1136/bmj.d549), with ``crit`` from N(0,1) for test="z" and from t(k-p) for the t-based
tests, as metafor's ``predict.rma``. Fixed-effects models have no prediction interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from . import report
from .errors import EvidenceInputError, strict_json
from .inputs import normalise_level

if TYPE_CHECKING:
    from .rma import RmaResult


@dataclass(frozen=True)
class Prediction:
    """Predicted values; scalars for a single prediction, arrays otherwise."""

    pred: Any
    se: Any
    ci_lb: Any
    ci_ub: Any
    pi_lb: Any
    pi_ub: Any
    level: float
    transformed: bool

    def to_dict(self) -> dict[str, Any]:
        """As strict JSON values (a number that is not finite is None)."""
        return strict_json(self._plain())

    def _plain(self) -> dict[str, Any]:
        def conv(x: Any) -> Any:
            return x.tolist() if isinstance(x, np.ndarray) else x

        return {
            k: conv(getattr(self, k))
            for k in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "level", "transformed")
        }

    def __str__(self) -> str:
        return report.format_prediction(self)


def predict(
    res: RmaResult,
    newmods: Any = None,
    level: float | None = None,
    transf: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Prediction:
    """Predictions from ``res``: the pooled effect, fitted values, or values at ``newmods``."""
    lv = res.level if level is None else normalise_level(level)
    X = _new_design(res, newmods)
    pred = X @ res.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, res.vb, X))
    alpha = 1 - lv / 100
    crit = stats.norm.isf(alpha / 2) if res.ddf is None else stats.t.isf(alpha / 2, res.ddf)
    ci_lb, ci_ub = pred - crit * se, pred + crit * se
    if res.is_fixed:
        pi_lb = pi_ub = None
    else:
        half = crit * np.sqrt(se**2 + res.tau2)
        pi_lb, pi_ub = pred - half, pred + half
    if transf is not None:
        pred, ci_lb, ci_ub = transf(pred), transf(ci_lb), transf(ci_ub)
        if pi_lb is not None:
            pi_lb, pi_ub = transf(pi_lb), transf(pi_ub)
        se = None
    one = len(pred) == 1

    def out(x: Any) -> Any:
        if x is None:
            return None
        return float(x[0]) if one else np.asarray(x)

    return Prediction(
        out(pred), out(se), out(ci_lb), out(ci_ub), out(pi_lb), out(pi_ub), lv, transf is not None
    )


def _new_design(res: RmaResult, newmods: Any) -> np.ndarray:
    if newmods is None:
        return np.ones((1, 1)) if res.int_only else res.data.X
    if res.int_only:
        raise EvidenceInputError("newmods", newmods, "None for a model without moderators")
    M = np.asarray(newmods, dtype=float)
    n_mods = res.p - (1 if res.data.intercept else 0)
    if M.ndim == 0:
        M = M.reshape(1, 1)
    elif M.ndim == 1:
        M = M[:, None] if n_mods == 1 else M[None, :]
    if M.shape[1] != n_mods:
        raise EvidenceInputError(
            "newmods", f"{M.shape[1]} column(s)", f"{n_mods} moderator value(s) per row"
        )
    if res.data.intercept:
        M = np.column_stack([np.ones(len(M)), M])
    return M
