"""Subgroup analysis: one model per subgroup and the test for subgroup differences.

Each subgroup is fitted on its own (``rma`` with the given method, so each has its own tau²),
and the subgroup estimates are compared with Cochran's Q of a fixed-effect model of those
estimates with G - 1 degrees of freedom (the test for subgroup differences of RevMan and
the Cochrane Handbook's chapter 10; in metafor, ``rma(b, sei = se, method = "FE")`` on the
subgroup fits). Checked against metafor 3.8.1 (tests/fixtures/metafor/subgroup.R).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .errors import EvidenceInputError, strict_json
from .inputs import column
from .rma import RmaResult, rma


@dataclass(frozen=True)
class SubgroupResult:
    groups: tuple[str, ...]
    fits: tuple[RmaResult, ...]
    qb: float  # Q between subgroups
    df: int
    qbp: float

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "k": [f.k for f in self.fits],
                "estimate": [f.estimate for f in self.fits],
                "se": [float(f.se_beta[0]) for f in self.fits],
                "ci_lb": [float(f.ci_lb_beta[0]) for f in self.fits],
                "ci_ub": [float(f.ci_ub_beta[0]) for f in self.fits],
                "tau2": [f.tau2 for f in self.fits],
                "i2": [f.i2 for f in self.fits],
            },
            index=pd.Index(self.groups, name="subgroup"),
        )

    def to_dict(self) -> dict[str, Any]:
        return strict_json(
            {
                "subgroups": self.table().reset_index().to_dict(orient="records"),
                "qb": self.qb,
                "df": self.df,
                "qbp": self.qbp,
            }
        )

    def __str__(self) -> str:
        return (
            self.table().to_string(float_format=lambda x: f"{x:.4f}")
            + f"\n\nTest for subgroup differences: Q_between({self.df}) = {self.qb:.4f}, "
            f"p = {self.qbp:.4g}"
        )


def subgroups(
    yi: Any,
    vi: Any,
    group: Any,
    *,
    data: pd.DataFrame | None = None,
    method: str = "REML",
    **options: Any,
) -> SubgroupResult:
    """Fit ``rma`` per subgroup (``group``: a label per study, or a column of ``data``) and
    test the differences between the subgroup estimates (``options`` go to each ``rma``)."""
    y = np.asarray(column(data, "yi", yi), dtype=float)
    v = np.asarray(column(data, "vi", vi), dtype=float)
    g = np.asarray(column(data, "group", group))
    if not (len(y) == len(v) == len(g)):
        raise EvidenceInputError("group", f"{len(g)} labels", f"{len(y)} labels, one per study")
    labels = sorted({str(x) for x in g})
    if len(labels) < 2:
        raise EvidenceInputError("group", labels, "at least two subgroups")
    fits = tuple(
        rma(y[g.astype(str) == lab], v[g.astype(str) == lab], method=method, **options)
        for lab in labels
    )
    b = np.array([f.estimate for f in fits])
    w = 1 / np.array([float(f.se_beta[0]) for f in fits]) ** 2
    pooled = float(np.sum(w * b) / np.sum(w))
    qb = float(np.sum(w * (b - pooled) ** 2))
    df = len(labels) - 1
    return SubgroupResult(tuple(labels), fits, qb, df, float(stats.chi2.sf(qb, df)))
