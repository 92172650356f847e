"""Input validation in one place: each check raises PharmInputError naming the field, the
value and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import PharmInputError


def check_number(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise PharmInputError(name, value, f"a number in {lo:g}-{hi:g}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise PharmInputError(name, value, f"{lo:g}-{hi:g}")
    return float(value)


def check_patients(patients: Any, name: str = "patients", most: int = 10_000_000) -> int:
    if (
        isinstance(patients, bool)
        or not isinstance(patients, int | np.integer)
        or not 1 <= patients <= most
    ):
        raise PharmInputError(name, patients, f"a whole number 1-{most}")
    return int(patients)


def check_times(name: str, times: Any) -> np.ndarray:
    try:
        t = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise PharmInputError(name, times, "one or more times >= 0") from None
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise PharmInputError(name, times, "one or more finite times >= 0")
    return t


def check_weights(weight_kg: Any, patients: int) -> np.ndarray:
    """One weight for everyone or one per patient, within raad's plausible range."""
    from raad.knowledge.treatment import monitoring

    lo, hi = monitoring().plausible_ranges.weight_kg
    w = np.asarray(weight_kg, dtype=float)
    if w.ndim == 0:
        check_number("weight_kg", float(w), lo, hi)
        return np.full(patients, float(w))
    if w.shape != (patients,) or not np.all(np.isfinite(w)) or np.any((w < lo) | (w > hi)):
        raise PharmInputError("weight_kg", "array", f"{patients} weights in {lo:g}-{hi:g} kg")
    return w


def check_fraction(
    name: str, value: Any, lo: float = 0.0, hi: float = 1.0, open_: bool = False
) -> float:
    v = check_number(name, value, lo, hi)
    if open_ and v in (lo, hi):
        raise PharmInputError(name, value, f"strictly between {lo:g} and {hi:g}")
    return v


def choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise PharmInputError(name, value, f"one of {', '.join(allowed)}")
    return value
