"""Input handling for ``rma``: effect sizes, variances, moderators and options, checked once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import EvidenceInputError, as_float_array, same_length

TESTS = ("z", "knha", "t", "adhoc")
NA_ACTIONS = ("omit", "fail")
# metafor 3.8.1 warns when max(vi)/min(vi) reaches 1e7 (observed: 1e7 warns, 7.7e6 does not)
VI_RATIO_WARN = 1e7
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
    # studies left out because a value they need is missing (metafor's na.action = "na.omit"):
    # their labels and 0-based positions in the input; k_all counts every study given
    omitted: tuple[str, ...] = ()
    omitted_at: tuple[int, ...] = ()
    k_all: int | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """metafor's warnings for these inputs, in its words (rma.uni of metafor 3.8.1)."""
        out = []
        if self.omitted:
            out.append("Studies with NAs omitted from model fitting.")
        if len(self.v) and self.v.max() / self.v.min() >= VI_RATIO_WARN:
            out.append(
                "Ratio of largest to smallest sampling variance extremely large. May not be "
                "able to obtain stable results."
            )
        return tuple(out)


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
    na_action: str = "omit",
) -> ModelData:
    """Validate and assemble the inputs of a model (see ``rma`` for the meaning of each).

    A study with a missing (NaN/None) effect size, variance or moderator is left out and
    listed (``na_action="omit"``, metafor's default ``na.omit``), or refused naming the field
    and positions (``"fail"``, metafor's ``na.fail``). Infinite values are always refused."""
    if na_action not in NA_ACTIONS:
        raise EvidenceInputError("na_action", na_action, f"one of {', '.join(NA_ACTIONS)}")
    measure = None
    if hasattr(yi, "yi") and hasattr(yi, "vi"):  # an escalc result
        es = yi
        measure = getattr(es, "measure", None)
        if slab is None:
            slab = getattr(es, "slab", None)
        yi, vi = es.yi, es.vi
    y = _finite_or_nan("yi", column(data, "yi", yi))
    if vi is None and sei is None:
        raise EvidenceInputError("vi", None, "sampling variances vi (or standard errors sei)")
    if vi is not None:
        v = _finite_or_nan("vi", column(data, "vi", vi))
        name = "vi"
    else:
        v = _finite_or_nan("sei", column(data, "sei", sei)) ** 2
        name = "sei"
    k = same_length(yi=y, **{name: v})
    if k < 1:
        raise EvidenceInputError("yi", [], "at least one study")
    X, names, x_ok = design_matrix(mods, data, k, intercept, allow_missing=True)
    labels = study_labels(column(data, "slab", slab) if isinstance(slab, str) else slab, k)
    ok = ~np.isnan(y) & ~np.isnan(v) & x_ok
    if not ok.all():
        missing = np.flatnonzero(~ok)
        if na_action == "fail":
            field = "yi" if np.isnan(y).any() else name if np.isnan(v).any() else "mods"
            raise EvidenceInputError(
                field,
                f"missing value(s) for studies at position(s) {missing.tolist()[:10]}",
                "complete values (or na_action='omit' to leave those studies out)",
            )
        if not ok.any():
            raise EvidenceInputError("yi", "every study has a missing value", "at least one study")
        y, v, X = y[ok], v[ok], X[ok]
        omitted = tuple(labels[i] for i in missing)
        labels = tuple(lab for lab, keep in zip(labels, ok, strict=True) if keep)
    else:
        omitted, missing = (), np.array([], dtype=int)
    if np.any(v <= 0):
        bad = np.flatnonzero(v <= 0).tolist()[:10]
        raise EvidenceInputError(name, f"non-positive value(s) at position(s) {bad}", "values > 0")
    _full_rank(X)
    return ModelData(
        y,
        v,
        X,
        names,
        bool(names) and names[0] == "intercept",
        labels,
        measure,
        omitted,
        tuple(int(i) for i in missing),
        k,
    )


def _finite_or_nan(name: str, value: Any) -> np.ndarray:
    """Numbers with missing values as NaN (None and pandas' NA included); infinities refused."""
    if isinstance(value, pd.Series | pd.Index):
        value = value.to_numpy(dtype=float, na_value=np.nan)
    elif isinstance(value, list | tuple):
        value = [
            np.nan if (x is None or (pd.api.types.is_scalar(x) and pd.isna(x))) else x
            for x in value
        ]
    arr = as_float_array(name, value, allow_nan=True)
    if np.isinf(arr).any():
        bad = np.flatnonzero(np.isinf(arr)).tolist()[:10]
        raise EvidenceInputError(name, f"infinite value at position(s) {bad}", "finite numbers")
    return arr


def _full_rank(X: np.ndarray) -> None:
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise EvidenceInputError(
            "mods",
            f"rank {np.linalg.matrix_rank(X)} < {X.shape[1]} columns",
            "linearly independent moderators",
        )


def design_matrix(
    mods: Any, data: pd.DataFrame | None, k: int, intercept: bool, allow_missing: bool = False
) -> Any:
    """Build X from ``mods``: None, an array (k,) or (k, m), a DataFrame, or a formula.
    Returns ``(X, names)``; with ``allow_missing``, ``(X, names, complete)`` where rows with a
    missing moderator are NaN in X and False in ``complete`` (the rank is then checked by the
    caller on the complete rows)."""
    if mods is None:
        if not intercept:
            raise EvidenceInputError("intercept", False, "True when there are no moderators")
        X, names = np.ones((k, 1)), ("intercept",)
        return (X, names, np.ones(k, dtype=bool)) if allow_missing else (X, names)
    if isinstance(mods, str):
        if data is None:
            raise EvidenceInputError("mods", mods, "a formula together with data=DataFrame")
        import patsy

        formula = mods if mods.lstrip().startswith("~") else "~ " + mods
        frame = data.reset_index(drop=True)
        try:
            dm = patsy.dmatrix(
                formula,
                frame,
                return_type="dataframe",
                NA_action="drop" if allow_missing else "raise",
            )
        except patsy.PatsyError as exc:
            raise EvidenceInputError(
                "mods", mods, f"a valid formula on data's columns ({exc})"
            ) from None
        for term, cols in dm.design_info.term_slices.items():
            if cols.stop == cols.start:  # a factor with one level adds no column: metafor stops
                raise EvidenceInputError(
                    "mods",
                    term.name(),
                    "factors with 2 or more levels (metafor: contrasts can be applied only to "
                    "factors with 2 or more levels)",
                )
        names = ["intercept" if c == "Intercept" else str(c) for c in dm.columns]
        X = np.full((len(frame), dm.shape[1]), np.nan)
        X[dm.index.to_numpy(dtype=int)] = dm.to_numpy(dtype=float)
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
    if np.isinf(X).any():
        raise EvidenceInputError("mods", "infinite values", "finite numbers")
    complete = ~np.isnan(X).any(axis=1)
    if not allow_missing:
        if not complete.all():
            raise EvidenceInputError("mods", "missing values", "finite numbers only")
        _full_rank(X)
        return X, tuple(names)
    return X, tuple(names), complete


def study_labels(slab: Sequence[Any] | None, k: int) -> tuple[str, ...]:
    if slab is None:
        return tuple(f"Study {i + 1}" for i in range(k))
    labels = tuple(str(s) for s in slab)
    if len(labels) != k:
        raise EvidenceInputError("slab", f"{len(labels)} labels", f"{k} labels, one per study")
    return labels
