"""Evidence engine: effect sizes, meta-analysis, bias tests and plots (metafor-exact)."""

from .anova import AnovaResult, anova
from .batch import rma_batch
from .conversions import (
    conv_2x2,
    conv_delta,
    conv_fivenum,
    conv_wald,
    events_from_risk,
    se_from_ci,
    se_from_p,
)
from .errors import ConvergenceError, EvidenceInputError, EvidenceWarning
from .escalc import EscalcResult, escalc
from .glmm import GlmmResult, rma_glmm
from .mh import MhResult, rma_mh, rma_peto
from .mv import MvResult, rma_mv, robust, vcalc
from .rma import RmaResult, rma
from .sequential import cumul, permutest
from .subgroup import SubgroupResult, subgroups
from .tau2 import METHODS, Control

__all__ = [
    "METHODS",
    "AnovaResult",
    "Control",
    "ConvergenceError",
    "EscalcResult",
    "EvidenceInputError",
    "EvidenceWarning",
    "GlmmResult",
    "MhResult",
    "MvResult",
    "RmaResult",
    "SubgroupResult",
    "anova",
    "conv_2x2",
    "conv_delta",
    "conv_fivenum",
    "conv_wald",
    "cumul",
    "escalc",
    "events_from_risk",
    "permutest",
    "rma",
    "rma_batch",
    "rma_glmm",
    "rma_mh",
    "rma_mv",
    "rma_peto",
    "robust",
    "se_from_ci",
    "se_from_p",
    "subgroups",
    "vcalc",
]
