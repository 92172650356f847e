"""Typed input errors for the evidence engine.

Every error names the argument, the offending value and what is allowed, so the CLI and the
API can pass the message on unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class EvidenceInputError(ValueError):
    """Bad input to an evidence function: names ``field``, ``value`` and what is ``allowed``."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: got {_short(value)}; allowed: {allowed}")


class EvidenceWarning(UserWarning):
    """What metafor warns about (studies omitted for missing values, and the like), in its
    words; the results also list them (``warnings``)."""


def strict_json(obj: Any) -> Any:
    """``obj`` with every float that is not finite (NaN, +-inf) as None, numpy scalars as
    Python numbers, tuples as lists: what ``json.dumps(..., allow_nan=False)`` accepts."""
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


class ConvergenceError(RuntimeError):
    """An iterative estimator did not converge; carries the method and the iteration count."""

    def __init__(self, method: str, iterations: int, detail: str) -> None:
        self.method = method
        self.iterations = iterations
        super().__init__(
            f"method={method!r} did not converge after {iterations} iterations: {detail}"
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_float_array(name: str, value: Any, *, allow_nan: bool = False) -> np.ndarray:
    """Convert ``value`` to a 1-D float array or raise naming ``name``."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise EvidenceInputError(name, value, "a sequence of numbers") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise EvidenceInputError(name, f"array of shape {arr.shape}", "a 1-D sequence of numbers")
    if not allow_nan and not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr))
        raise EvidenceInputError(
            name, f"non-finite value at position(s) {bad.tolist()[:10]}", "finite numbers only"
        )
    return arr


def same_length(**arrays: np.ndarray | None) -> int:
    """Check that all given arrays (None skipped) have one length; return it."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        values = list(lengths.values())
        usual = max(set(values), key=values.count)
        odd = next(k for k, n in lengths.items() if n != usual)
        raise EvidenceInputError(odd, f"lengths {desc}", "arrays of equal length")
    return next(iter(lengths.values())) if lengths else 0
