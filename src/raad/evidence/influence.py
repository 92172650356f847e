"""Leave-one-out diagnostics (Viechtbauer & Cheung 2010, Res Synth Methods 1:112,
doi:10.1002/jrsm.11): the model refitted without each study in turn."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import EvidenceInputError

if TYPE_CHECKING:
    from .rma import RmaResult

COLUMNS = ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "q", "qp", "tau2", "i2", "h2")


def leave1out(res: RmaResult) -> pd.DataFrame:
    """One row per omitted study (index: its label); same method, test, level and control."""
    if not res.int_only:
        raise EvidenceInputError("mods", "a model with moderators", "a model without moderators")
    need = 1 if res.is_fixed and res.test == "z" else 2
    if res.k - 1 < need:
        raise EvidenceInputError("yi", f"k={res.k} studies", f"at least {need + 1} studies")
    rows = []
    keep = np.ones(res.k, dtype=bool)
    for i in range(res.k):
        keep[:] = True
        keep[i] = False
        m = res.refit(res.yi[keep], res.vi[keep])
        rows.append(
            (m.estimate, m.se, m.zval, m.pval, m.ci_lb, m.ci_ub, m.qe, m.qep, m.tau2, m.i2, m.h2)
        )
    return pd.DataFrame(rows, columns=list(COLUMNS), index=pd.Index(res.data.slab, name="omitted"))


def baujat(res: RmaResult) -> pd.DataFrame:
    """Baujat et al. 2002 (Stat Med 21:2641-2652) diagnostics, as metafor's ``baujat()``:
    ``x``, each study's contribution to the heterogeneity statistic (its squared residual
    over tau² + vi), and ``y``, its influence on the pooled estimate (the squared change of
    the estimate when it is left out, over the variance of the estimate without it). Studies
    far right add heterogeneity; far up move the result. Index: the study labels."""
    if not res.int_only:
        raise EvidenceInputError("mods", "a model with moderators", "a model without moderators")
    need = 1 if res.is_fixed and res.test == "z" else 2
    if res.k - 1 < need:
        raise EvidenceInputError("yi", f"k={res.k} studies", f"at least {need + 1} studies")
    x = (res.yi - res.estimate) ** 2 / (res.tau2 + res.vi)
    y = np.empty(res.k)
    keep = np.ones(res.k, dtype=bool)
    for i in range(res.k):
        keep[:] = True
        keep[i] = False
        m = res.refit(res.yi[keep], res.vi[keep])
        y[i] = (m.estimate - res.estimate) ** 2 / float(m.vb[0, 0])
    return pd.DataFrame({"x": x, "y": y}, index=pd.Index(res.data.slab, name="study"))
