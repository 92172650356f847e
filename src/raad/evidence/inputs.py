"""Input handling for ``rma``: effect sizes, variances, moderators and options, checked once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import EvidenceInputError, as_float_array, same_length

TESTS = ("z", "knha", "t", "adhoc")
TEST_ALIASES = {"hk": "knha", "hksj": "knha"}


@dataclass(frozen=True)
class ModelData:
    """Validated inputs of one model: ``y``, ``v``, design ``X`` and its column names."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    coef_names: tuple[str, ...]
    intercept: bool
    slab: tuple[str, ...]
    measure: str | None


def column(data: pd.DataFrame | None, name: str, value: Any) -> Any:
    """Resolve ``value`` as a column of ``data`` when it is a string."""
    if isinstance(value, str):
        if data is None:
            raise EvidenceInputError(
                name, value, "a sequence of numbers (or a column name with data=)"
            )
        if value not in data.columns:
            raise EvidenceInputError(
                name, value, f"a column of data: {list(map(str, data.columns))}"
            )
        return data[value].to_numpy()
    return value


def normalise_test(test: str) -> str:
    t = TEST_ALIASES.get(str(test).lower(), str(test).lower()) if isinstance(test, str) else test
    if t not in TESTS:
        raise EvidenceInputError("test", test, f"one of {', '.join(TESTS)}")
    return t


def normalise_level(level: float) -> float:
    """Confidence level as a percentage (95); proportions (0.95) are accepted as metafor does."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise EvidenceInputError("level", level, "a number in (0, 100)") from None
    if 0 < lv < 1:
        lv *= 100
    if not 0 < lv < 100:
        raise EvidenceInputError("level", level, "a number in (0, 100), e.g. 95")
    return lv


def model_data(
    yi: Any,
    vi: Any,
    sei: Any,
    mods: Any,
    data: pd.DataFrame | None,
    slab: Any,
    intercept: bool,
) -> ModelData:
    """Validate and assemble the inputs of a model (see ``rma`` for the meaning of each)."""
    measure = None
    if hasattr(yi, "yi") and hasattr(yi, "vi"):  # an escalc result
        es = yi
        measure = getattr(es, "measure", None)
        if slab is None:
            slab = getattr(es, "slab", None)
        yi, vi = es.yi, es.vi
    y = as_float_array("yi", column(data, "yi", yi))
    if vi is None and sei is None:
        raise EvidenceInputError("vi", None, "sampling variances vi (or standard errors sei)")
    if vi is not None:
        v = as_float_array("vi", column(data, "vi", vi))
        name = "vi"
    else:
        v = as_float_array("sei", column(data, "sei", sei)) ** 2
        name = "sei"
    k = same_length(yi=y, **{name: v})
    if k < 1:
        raise EvidenceInputError("yi", [], "at least one study")
    if np.any(v <= 0):
        bad = np.flatnonzero(v <= 0).tolist()[:10]
        raise EvidenceInputError(name, f"non-positive value(s) at position(s) {bad}", "values > 0")
    X, names = design_matrix(mods, data, k, intercept)
    labels = study_labels(column(data, "slab", slab) if isinstance(slab, str) else slab, k)
    return ModelData(y, v, X, names, bool(names) and names[0] == "intercept", labels, measure)


def design_matrix(
    mods: Any, data: pd.DataFrame | None, k: int, intercept: bool
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Build X from ``mods``: None, an array (k,) or (k, m), a DataFrame, or a formula."""
    if mods is None:
        if not intercept:
            raise EvidenceInputError("intercept", False, "True when there are no moderators")
        return np.ones((k, 1)), ("intercept",)
    if isinstance(mods, str):
        if data is None:
            raise EvidenceInputError("mods", mods, "a formula together with data=DataFrame")
        import patsy

        formula = mods if mods.lstrip().startswith("~") else "~ " + mods
        try:
            dm = patsy.dmatrix(formula, data, return_type="dataframe", NA_action="raise")
        except patsy.PatsyError as exc:
            raise EvidenceInputError(
                "mods", mods, f"a valid formula on data's columns ({exc})"
            ) from None
        names = ["intercept" if c == "Intercept" else str(c) for c in dm.columns]
        X = dm.to_numpy(dtype=float)
    else:
        if isinstance(mods, pd.DataFrame | pd.Series):
            frame = mods.to_frame() if isinstance(mods, pd.Series) else mods
            cols = [str(c) for c in frame.columns]
            M = frame.to_numpy(dtype=float)
        else:
            try:
                M = np.asarray(mods, dtype=float)
            except (TypeError, ValueError):
                raise EvidenceInputError(
                    "mods", mods, "numbers, a DataFrame or a formula"
                ) from None
            if M.ndim == 1:
                M = M[:, None]
            cols = [f"mod{j + 1}" for j in range(M.shape[1])] if M.shape[1] > 1 else ["mods"]
        if M.ndim != 2 or M.shape[0] != k:
            raise EvidenceInputError("mods", f"shape {M.shape}", f"{k} rows, one per study")
        if intercept:
            M = np.column_stack([np.ones(k), M])
            cols = ["intercept", *cols]
        X, names = M, cols
    if X.shape[0] != k:
        raise EvidenceInputError("mods", f"{X.shape[0]} rows", f"{k} rows, one per study")
    if not np.all(np.isfinite(X)):
        raise EvidenceInputError("mods", "non-finite values", "finite numbers only")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise EvidenceInputError(
            "mods",
            f"rank {np.linalg.matrix_rank(X)} < {X.shape[1]} columns",
            "linearly independent moderators",
        )
    return X, tuple(names)


def study_labels(slab: Sequence[Any] | None, k: int) -> tuple[str, ...]:
    if slab is None:
        return tuple(f"Study {i + 1}" for i in range(k))
    labels = tuple(str(s) for s in slab)
    if len(labels) != k:
        raise EvidenceInputError("slab", f"{len(labels)} labels", f"{k} labels, one per study")
    return labels
