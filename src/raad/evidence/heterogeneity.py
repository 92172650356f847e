"""Confidence intervals for the amount of heterogeneity.

Q-profile method (Viechtbauer 2007, Stat Med 26(1):37-52, doi:10.1002/sim.2514): the bounds
are the tau² values at which the generalised Q statistic equals the chi² (k-p) quantiles.
I², H² and tau bounds are the same transformations of the tau² bounds as for the estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scipy import optimize, stats

from . import report
from .errors import EvidenceInputError, strict_json
from .inputs import normalise_level
from .linalg import q_gen

if TYPE_CHECKING:
    from .rma import RmaResult


@dataclass(frozen=True)
class HeterogeneityCI:
    """Estimate and confidence bounds for tau², tau, I² (%) and H²."""

    tau2: tuple[float, float, float]
    tau: tuple[float, float, float]
    i2: tuple[float, float, float]
    h2: tuple[float, float, float]
    level: float
    method: str = "Q-profile"

    def to_dict(self) -> dict[str, Any]:
        """As strict JSON values (a number that is not finite is None)."""
        return strict_json(self._plain())

    def _plain(self) -> dict[str, Any]:
        return {
            "tau2": list(self.tau2),
            "tau": list(self.tau),
            "i2": list(self.i2),
            "h2": list(self.h2),
            "level": self.level,
            "method": self.method,
        }

    def __str__(self) -> str:
        return report.format_heterogeneity_ci(self)


def q_profile(res: RmaResult, level: float | None = None) -> HeterogeneityCI:
    """Q-profile CI for tau² of a random- or mixed-effects model."""
    if res.is_fixed:
        raise EvidenceInputError(
            "method", "FE", "a random-effects method (tau2 is 0 by assumption)"
        )
    lv = res.level if level is None else normalise_level(level)
    y, v, X = res.data.y, res.data.v, res.data.X
    df = res.k - res.p
    alpha = 1 - lv / 100
    crit_u = float(stats.chi2.isf(alpha / 2, df))
    crit_l = float(stats.chi2.ppf(alpha / 2, df))
    tol = res.control.tol

    def root(target: float) -> float:
        if q_gen(y, v, X, 0.0) < target:
            return 0.0
        upper = max(100.0, 10 * res.tau2)
        while q_gen(y, v, X, upper) > target:
            upper *= 10
        return optimize.brentq(
            lambda t: q_gen(y, v, X, t) - target, 0.0, upper, xtol=tol, maxiter=res.control.maxiter
        )

    lb, ub = root(crit_u), root(crit_l)
    vt = res.vt

    def i2(t: float) -> float:
        return 100 * t / (vt + t)

    def h2(t: float) -> float:
        return t / vt + 1

    t2 = (res.tau2, lb, ub)
    return HeterogeneityCI(
        tau2=t2,
        tau=tuple(math.sqrt(t) for t in t2),
        i2=tuple(i2(t) for t in t2),
        h2=tuple(h2(t) for t in t2),
        level=lv,
    )
