"""Evidence engine: effect sizes, meta-analysis, bias tests and plots (metafor-exact)."""

from .errors import ConvergenceError, EvidenceInputError
from .rma import RmaResult, rma
from .tau2 import METHODS, Control

__all__ = ["METHODS", "Control", "ConvergenceError", "EvidenceInputError", "RmaResult", "rma"]
