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
