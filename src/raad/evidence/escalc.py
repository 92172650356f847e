"""Effect sizes and sampling variances as metafor 3.8's ``escalc`` computes them.

Formulas (metafor documentation, Viechtbauer 2010, doi:10.18637/jss.v036.i03), with
``c(m) = exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))`` the exact small-sample bias
correction of Hedges (1981, doi:10.3102/10769986006002107):

- ``MD``  ``m1 - m2``; ``vi = sd1^2/n1 + sd2^2/n2`` (vtype "LS" = "UB"), or with
  vtype "HO" ``sp^2 (1/n1 + 1/n2)``, ``sp`` the pooled SD (Borenstein et al. 2009, ch. 4).
- ``SMD`` Hedges' g: ``c(n1+n2-2) (m1 - m2) / sp``; "LS": ``1/n1 + 1/n2 + g^2 / (2 (n1+n2))``;
  "UB": ``1/n1 + 1/n2 + (1 - (m-2) / (m c(m)^2)) g^2``, ``m = n1+n2-2`` (Hedges 1983).
- ``MC``  ``m1 - m2``; ``vi = (sd1^2 + sd2^2 - 2 r sd1 sd2) / n``.
- ``SMCC`` change-score standardisation (Gibbons et al. 1993): ``c(n-1) (m1 - m2) / sd_d``,
  ``sd_d = sqrt(sd1^2 + sd2^2 - 2 r sd1 sd2)``; ``vi = 1/n + g^2 / (2n)``.
- ``SMCR`` raw-score standardisation by ``sd1i`` (Becker 1988, doi:10.1111/j.2044-8317.1988.
  tb00901.x; Morris 2008, doi:10.1177/1094428106291059): ``c(n-1) (m1 - m2) / sd1``;
  ``vi = 2 (1 - r) / n + g^2 / (2n)``.
- ``RR`` ``log(p1/p2)``, ``vi = 1/a - 1/n1 + 1/c - 1/n2``; ``OR`` ``log(a d / (b c))``,
  ``vi = 1/a + 1/b + 1/c + 1/d``; ``RD`` ``p1 - p2``, ``vi = p1 q1/n1 + p2 q2/n2`` ("LS") or
  with ``n - 1`` ("UB") (Borenstein et al. 2009, ch. 5; Rothman et al. 2008).
- ``PR`` ``p = x/n``, ``vi = p (1-p) / n`` ("LS") or ``/(n-1)`` ("UB"); ``PLO``
  ``log(x / (n-x))``, ``vi = 1/x + 1/(n-x)``.
- ``COR`` ``r``, ``vi = (1 - r^2)^2 / (n - 1)``; ``ZCOR`` ``atanh(r)``, ``vi = 1/(n - 3)``
  (Fisher 1921).
- vtype "AV" (SMD, RD, PR, PLO; ROM "AV"/"AVHO"): the same large-sample variance with the
  study's own estimate replaced by the sample-size weighted average over the studies (for ROM
  the groups' coefficients of variation, per group or, "AVHO", pooled over both: Nakagawa et
  al. 2023, doi:10.1111/2041-210X.14032); "LS2" for SMD: ``c^2 (1/n1 + 1/n2 + d^2 / (2 (n1 +
  n2)))`` with d uncorrected (Borenstein 2009, eq. 12.17), for SMDH the variance without the
  n - 1 terms (Bonett 2009); ROM "HO": the pooled SD in both groups (Hedges et al. 1999).

Continuity correction (metafor 3.8, for RR, OR, RD, PR and PLO alike): ``to="only0"`` adds
``add`` to every cell of a table with a zero cell (2x2: a, b, c, d; proportions: x and n-x);
``"all"`` to every table; ``"if0all"`` to every table when any has a zero cell; ``"none"``
never. ``drop00=True`` sets 2x2 tables with no events (or only events) in both groups to NaN.

NaN policy: inputs must be finite (NaN raises ``EvidenceInputError``). Outputs are NaN only
where metafor returns NA from valid counts: tables removed by ``drop00`` and, with
``to="none"`` or ``add=0``, zero cells that make the estimate infinite (``EscalcResult.dropped``
lists them). Where metafor would return NA or a zero variance for other inputs, this module
raises instead: SMD with ``n1+n2 <= 3`` or a pooled SD of 0; SMCC/SMCR with ``n <= 2``; SMCR
with ``sd1i = 0``; MD/MC with a variance of 0 from zero SDs; COR/ZCOR with ``n <= 3`` or
``|r| = 1``. Arguments a measure does not use are ignored, as in metafor.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .errors import EvidenceInputError, as_float_array, same_length, strict_json

Arrays = dict[str, np.ndarray]

MEASURES = (
    "SMD",
    "MD",
    "SMCC",
    "SMCR",
    "MC",
    "RR",
    "OR",
    "RD",
    "PLO",
    "PR",
    "ZCOR",
    "COR",
    "ROM",
    "MN",
    "MNLN",
    "PAS",
    "PFT",
    "SMDH",
    "IRR",
)
TO = ("only0", "all", "if0all", "none")
VTYPES: dict[str, tuple[str, ...]] = {
    "SMD": ("LS", "UB", "LS2", "AV"),
    "MD": ("LS", "UB", "HO"),
    "RD": ("LS", "UB", "AV"),
    "PR": ("LS", "UB", "AV"),
    "PLO": ("LS", "AV"),
    "ROM": ("LS", "HO", "AV", "AVHO"),
    "SMDH": ("LS", "LS2"),
}
# The arguments each measure reads (metafor's names); the rest are ignored.
ARGS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("RR", "OR", "RD"), ("ai", "bi", "ci", "di", "n1i", "n2i")),
    **dict.fromkeys(("SMD", "MD"), ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i")),
    **dict.fromkeys(("SMCC", "MC"), ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri")),
    "SMCR": ("m1i", "m2i", "sd1i", "ni", "ri"),
    **dict.fromkeys(("PR", "PLO"), ("xi", "mi", "ni")),
    **dict.fromkeys(("ZCOR", "COR"), ("ri", "ni")),
    **dict.fromkeys(("ROM", "SMDH"), ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i")),
    "IRR": ("x1i", "x2i", "t1i", "t2i"),
    **dict.fromkeys(("MN", "MNLN"), ("mi", "sdi", "ni")),
    **dict.fromkeys(("PAS", "PFT"), ("xi", "mi", "ni")),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    **{m: ARGS[m] for m in ("SMD", "MD", "SMCC", "MC", "SMCR", "ZCOR", "COR", "ROM", "MN", "MNLN")},
    **{m: ARGS[m] for m in ("SMDH", "IRR")},
    **dict.fromkeys(("PAS", "PFT"), ("xi",)),
    **dict.fromkeys(("RR", "OR", "RD"), ("ai", "ci")),
    **dict.fromkeys(("PR", "PLO"), ("xi",)),
}


@dataclass(frozen=True)
class EscalcResult:
    """Effect sizes ``yi`` and sampling variances ``vi`` (NaN where metafor gives NA)."""

    yi: np.ndarray
    vi: np.ndarray
    measure: str
    slab: list[str] = field(default_factory=list)

    @property
    def sei(self) -> np.ndarray:
        return np.sqrt(self.vi)

    @property
    def k(self) -> int:
        return len(self.yi)

    @property
    def dropped(self) -> np.ndarray:
        """Studies without an effect size (e.g. double-zero tables with ``drop00=True``)."""
        return np.isnan(self.yi) | np.isnan(self.vi)

    def drop_missing(self) -> EscalcResult:
        """The studies that have an effect size (rma refuses NaN rather than skip it silently)."""
        keep = ~self.dropped
        return EscalcResult(
            self.yi[keep],
            self.vi[keep],
            self.measure,
            [s for s, kept in zip(self.slab, keep, strict=True) if kept],
        )

    def __len__(self) -> int:
        return self.k

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"slab": list(self.slab), "yi": self.yi, "vi": self.vi, "sei": self.sei}
        )

    def to_dict(self) -> dict[str, Any]:
        """As strict JSON values (a number that is not finite is None)."""
        return strict_json(self._plain())

    def _plain(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None."""

        def clean(a: np.ndarray) -> list[float | None]:
            return [None if np.isnan(x) else float(x) for x in a]

        return {
            "measure": self.measure,
            "slab": list(self.slab),
            "yi": clean(self.yi),
            "vi": clean(self.vi),
            "sei": clean(self.sei),
        }

    def __str__(self) -> str:
        width = max([len("study"), *(len(s) for s in self.slab)])

        def fmt(x: float) -> str:
            return "NA" if np.isnan(x) else f"{x:.4f}"

        lines = [
            f"Effect sizes: measure {self.measure}, k = {self.k}",
            f"  {'study'.ljust(width)}  {'yi':>10}  {'vi':>10}",
        ]
        lines += [
            f"  {s.ljust(width)}  {fmt(y):>10}  {fmt(v):>10}"
            for s, y, v in zip(self.slab, self.yi, self.vi, strict=True)
        ]
        return "\n".join(lines)


def hedges_c(m: np.ndarray | float) -> np.ndarray:
    """Exact bias correction ``Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))`` on the log scale.

    NaN for ``m <= 1`` (metafor: NA); no overflow for large ``m`` (Hedges 1981).
    """
    m = np.asarray(m, dtype=float)
    ok = m > 1
    safe = np.where(ok, m, 2.0)
    return np.where(
        ok, np.exp(gammaln(safe / 2) - np.log(np.sqrt(safe / 2)) - gammaln((safe - 1) / 2)), np.nan
    )


def escalc(
    measure: str,
    *,
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    m1i: Any = None,
    m2i: Any = None,
    sd1i: Any = None,
    sd2i: Any = None,
    xi: Any = None,
    mi: Any = None,
    ni: Any = None,
    ri: Any = None,
    sdi: Any = None,
    x1i: Any = None,
    x2i: Any = None,
    t1i: Any = None,
    t2i: Any = None,
    pi: Any = None,
    data: pd.DataFrame | None = None,
    slab: Any = None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
) -> EscalcResult:
    """Effect sizes ``yi`` and sampling variances ``vi`` (formulas in the module docstring).

    Each data argument is a sequence, a number (used for every study) or, with ``data``, a
    column name. Required: SMD/MD: m1i m2i sd1i sd2i n1i n2i; MC/SMCC: m1i m2i sd1i sd2i ni ri;
    SMCR: m1i m2i sd1i ni ri (sd1i = pre-test SD); RR/OR/RD: ai ci and bi or n1i, di or n2i;
    PR/PLO/PAS/PFT: xi and mi or ni; COR/ZCOR: ri ni; ROM/SMDH: as SMD; MN/MNLN: mi (the
    means) sdi ni; IRR: x1i x2i (events) t1i t2i (person-time). ``pi`` is refused: metafor 3.8 has no such
    argument (metafor >= 4.0 reads it as two-sided p-values). ``slab`` gives study labels
    (default "Study 1".."Study k"); duplicates are numbered "A.1", "A.2" as metafor does.
    """
    m = _check_options(measure, add, to, drop00, vtype)
    if pi is not None:
        raise EvidenceInputError(
            "pi",
            pi,
            "nothing: metafor 3.8's escalc has no 'pi' (metafor >= 4.0 reads it as "
            "p-values); give xi with ni or mi for proportions",
        )
    if data is not None and not isinstance(data, pd.DataFrame):
        raise EvidenceInputError("data", type(data).__name__, "a pandas DataFrame or None")
    given = {
        "ai": ai,
        "bi": bi,
        "ci": ci,
        "di": di,
        "n1i": n1i,
        "n2i": n2i,
        "m1i": m1i,
        "m2i": m2i,
        "sd1i": sd1i,
        "sd2i": sd2i,
        "xi": xi,
        "mi": mi,
        "ni": ni,
        "ri": ri,
        "sdi": sdi,
        "x1i": x1i,
        "x2i": x2i,
        "t1i": t1i,
        "t2i": t2i,
    }
    a = _arrays({n: given[n] for n in ARGS[m] if given[n] is not None}, data)
    for n in REQUIRED[m]:
        if n not in a:
            raise EvidenceInputError(
                n, None, f"required for measure={m!r} (needs {', '.join(REQUIRED[m])})"
            )
    k = len(next(iter(a.values())))
    yi, vi = _COMPUTE[m](m, a, add, to, drop00, vtype)
    yi, vi = np.array(yi, dtype=float), np.array(vi, dtype=float)
    bad = ~np.isfinite(yi) | ~np.isfinite(vi)  # metafor: +-Inf and NaN -> NA in both
    yi[bad] = np.nan
    vi[bad] = np.nan
    vi[vi < 0] = np.nan  # metafor: negative variances -> NA
    return EscalcResult(yi, vi, m, _labels(slab, data, k))


# --- input handling ---------------------------------------------------------------------------


def _check_options(measure: Any, add: Any, to: Any, drop00: Any, vtype: Any) -> str:
    if not isinstance(measure, str) or measure.upper() not in MEASURES:
        raise EvidenceInputError("measure", measure, f"one of {', '.join(MEASURES)}")
    m = measure.upper()
    if not isinstance(to, str) or to not in TO:
        raise EvidenceInputError("to", to, f"one of {', '.join(TO)}")
    allowed = VTYPES.get(m, ("LS",))
    if not isinstance(vtype, str) or vtype not in allowed:
        raise EvidenceInputError("vtype", vtype, f"one of {', '.join(allowed)} for measure={m!r}")
    if isinstance(add, bool) or not isinstance(add, numbers.Real) or not 0 <= add < np.inf:
        raise EvidenceInputError("add", add, "a finite number >= 0")
    if not isinstance(drop00, bool | np.bool_):
        raise EvidenceInputError("drop00", drop00, "True or False")
    return m


def _arrays(given: dict[str, Any], data: pd.DataFrame | None) -> Arrays:
    """Column look-ups and conversion; plain numbers are used for every study."""
    resolved = {n: _column(data, n, v) for n, v in given.items()}
    # a missing count or mean (NaN/None) gives a missing yi and vi for that study, as in
    # metafor; infinities are refused
    arrays = {n: _nan_ok(n, v) for n, v in resolved.items()}
    sequences = {n: v for n, v in arrays.items() if np.ndim(resolved[n]) > 0}
    k = same_length(**sequences) if sequences else 1
    if k == 0:
        raise EvidenceInputError(next(iter(sequences)), "an empty sequence", "at least one study")
    return {n: v if n in sequences else np.repeat(v, k) for n, v in arrays.items()}


def _nan_ok(name: str, value: Any) -> np.ndarray:
    if isinstance(value, pd.Series | pd.Index):
        value = value.to_numpy(dtype=float, na_value=np.nan)
    elif isinstance(value, list | tuple):
        value = [
            np.nan if x is None or (pd.api.types.is_scalar(x) and pd.isna(x)) else x for x in value
        ]
    elif isinstance(value, np.ndarray) and value.dtype == object:
        value = np.array([np.nan if x is None or pd.isna(x) else x for x in value], dtype=float)
    arr = as_float_array(name, value, allow_nan=True)
    if np.isinf(arr).any():
        bad = np.flatnonzero(np.isinf(arr)).tolist()[:10]
        raise EvidenceInputError(name, f"infinite value at position(s) {bad}", "finite numbers")
    return arr


def _column(data: pd.DataFrame | None, name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if data is None:
        raise EvidenceInputError(name, value, "numbers, or a column name together with data=")
    if value not in data.columns:
        raise EvidenceInputError(name, value, f"a column of data: {[str(c) for c in data.columns]}")
    return data[value].to_numpy()


def _labels(slab: Any, data: pd.DataFrame | None, k: int) -> list[str]:
    if slab is None:
        return [f"Study {i + 1}" for i in range(k)]
    if isinstance(slab, str):
        if data is None or slab not in data.columns:
            raise EvidenceInputError(
                "slab", slab, "a column name of data, or a sequence of k study labels"
            )
        slab = data[slab]
    values = list(slab) if np.ndim(slab) == 1 else [slab]
    if len(values) != k:
        raise EvidenceInputError("slab", f"{len(values)} labels", f"{k} labels, one per study")
    missing = [i for i, s in enumerate(values) if pd.api.types.is_scalar(s) and pd.isna(s)]
    if missing:
        raise EvidenceInputError("slab", f"missing label at {missing[:10]}", "a label per study")
    labels = [str(s) for s in values]
    for s in set(labels):  # metafor's .make.unique: A, A -> A.1, A.2
        where = [i for i, t in enumerate(labels) if t == s]
        if len(where) > 1:
            for j, i in enumerate(where, start=1):
                labels[i] = f"{s}.{j}"
    return labels


def _check(bad: np.ndarray, field: str, values: np.ndarray | None, allowed: str) -> None:
    """Raise naming ``field`` with the offending values and positions when ``bad`` is set."""
    if np.any(bad):
        where = np.flatnonzero(bad)[:10]
        got = (
            f"{np.asarray(values)[where].tolist()} at position(s) {where.tolist()}"
            if values is not None
            else f"position(s) {where.tolist()}"
        )
        raise EvidenceInputError(field, got, allowed)


def _nonnegative(a: Arrays, names: tuple[str, ...], what: str) -> None:
    for n in names:
        if n in a:
            _check(a[n] < 0, n, a[n], f"{what} >= 0")


def _complement(a: Arrays, count: str, total: str, rest: str, m: str) -> np.ndarray:
    """The non-event count ``rest`` (given, or ``total - count``), checked as metafor does."""
    if rest in a:
        if total in a:
            _check(
                a[total] != a[count] + a[rest],
                total,
                a[total],
                f"{total} = {count} + {rest} (or give only one of {total}, {rest})",
            )
        return a[rest]
    if total not in a:
        raise EvidenceInputError(rest, None, f"required for measure={m!r} (or {total})")
    _check(a[count] > a[total], count, a[count], f"{count} <= {total}")
    return a[total] - a[count]


def _continuity(cells: list[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """Add ``add`` to the cells of each table as metafor's ``to`` rule says (NaN rows stay)."""
    if to == "none":
        return cells
    if to == "all":
        return [c + add for c in cells]
    zero = np.logical_or.reduce([c == 0 for c in cells])  # NaN (dropped) compares False
    if to == "if0all":
        zero = np.full_like(zero, zero.any())
    return [c + np.where(zero, add, 0.0) for c in cells]


# --- measures ---------------------------------------------------------------------------------


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean over the studies where both are present (metafor's ``.wmean``)."""
    ok = ~(np.isnan(x) | np.isnan(w))
    return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok]))


Pair = tuple[np.ndarray, np.ndarray]


def _two_by_two(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    _nonnegative(a, ("ai", "bi", "ci", "di", "n1i", "n2i"), "counts")
    bi = _complement(a, "ai", "n1i", "bi", m).copy()
    di = _complement(a, "ci", "n2i", "di", m).copy()
    ai, ci = a["ai"].copy(), a["ci"].copy()
    if drop00:
        both = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        for cell in (ai, bi, ci, di):
            cell[both] = np.nan
    ai, bi, ci, di = _continuity([ai, bi, ci, di], add, to)
    n1, n2 = ai + bi, ci + di
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = ai / n1, ci / n2
        if m == "RR":
            return np.log(p1) - np.log(p2), 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        if m == "OR":
            return (
                np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2)),
                1 / ai + 1 / bi + 1 / ci + 1 / di,
            )
        if vtype == "AV":
            q1, q2 = _wmean(p1, n1), _wmean(p2, n2)
            return p1 - p2, q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2
        d1, d2 = (n1, n2) if vtype == "LS" else (n1 - 1, n2 - 1)
        return p1 - p2, p1 * (1 - p1) / d1 + p2 * (1 - p2) / d2


def _proportion(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    _nonnegative(a, ("xi", "mi", "ni"), "counts")
    rest = _complement(a, "xi", "ni", "mi", m).copy()
    _check(a["xi"] + rest == 0, "ni" if "ni" in a else "mi", a["xi"] + rest, "group sizes > 0")
    x, rest = _continuity([a["xi"].copy(), rest], add, to)
    n = x + rest
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        if vtype == "AV":
            q = _wmean(p, n)
            if m == "PR":
                return p, q * (1 - q) / n
            return np.log(p / (1 - p)), 1 / (q * n) + 1 / ((1 - q) * n)
        if m == "PR":
            return p, p * (1 - p) / (n if vtype == "LS" else n - 1)
        return np.log(p / (1 - p)), 1 / x + 1 / rest


def _correlation(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    r, n = a["ri"], a["ni"]
    _check(np.abs(r) > 1, "ri", r, "correlations in [-1, 1]")
    _check(n <= 3, "ni", n, f"ni > 3 for measure={m!r} (metafor gives no variance for ni <= 3)")
    _check(np.abs(r) == 1, "ri", r, f"|ri| < 1 for measure={m!r} (z infinite, or variance 0)")
    if m == "COR":
        return r.copy(), (1 - r**2) ** 2 / (n - 1)
    return np.arctanh(r), 1 / (n - 3)


def _two_groups(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    n1, n2, s1, s2 = a["n1i"], a["n2i"], a["sd1i"], a["sd2i"]
    _check(n1 <= 0, "n1i", n1, "group sizes > 0")
    _check(n2 <= 0, "n2i", n2, "group sizes > 0")
    _nonnegative(a, ("sd1i", "sd2i"), "standard deviations")
    df = n1 + n2 - 2
    diff = a["m1i"] - a["m2i"]
    if m == "MD" and vtype != "HO":
        vi = s1**2 / n1 + s2**2 / n2
        _check(vi == 0, "sd1i", s1, "sd1i and sd2i not both 0 (variance 0)")
        return diff, vi
    _check(
        df <= (1 if m == "SMD" else 0),
        "n1i",
        n1,
        f"n1i + n2i > {3 if m == 'SMD' else 2} for measure={m!r}",
    )
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / df)
    _check(sp == 0, "sd1i", s1, "sd1i and sd2i giving a pooled SD > 0")
    if m == "MD":
        return diff, sp**2 * (1 / n1 + 1 / n2)
    c = hedges_c(df)
    g = c * diff / sp
    if vtype == "UB":
        return g, 1 / n1 + 1 / n2 + (1 - (df - 2) / (df * c**2)) * g**2
    if vtype == "LS2":
        return g, c**2 * (1 / n1 + 1 / n2 + (diff / sp) ** 2 / (2 * (n1 + n2)))
    if vtype == "AV":
        gbar = _wmean(g, n1 + n2)
        return g, 1 / n1 + 1 / n2 + gbar**2 / (2 * (n1 + n2))
    return g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


def _ratio_of_means(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    """ROM: log(m1 / m2), vi = sd1^2 / (n1 m1^2) + sd2^2 / (n2 m2^2) (metafor's LS)."""
    m1, m2, s1, s2, n1, n2 = (a[k] for k in ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"))
    _check(n1 <= 0, "n1i", n1, "group sizes > 0")
    _check(n2 <= 0, "n2i", n2, "group sizes > 0")
    _nonnegative(a, ("sd1i", "sd2i"), "standard deviations")
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(m1 / m2)
        if vtype == "HO":
            sp2 = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2)
            return y, sp2 / (n1 * m1**2) + sp2 / (n2 * m2**2)
        cv1, cv2 = s1 / m1, s2 / m2
        if vtype == "AV":
            return y, _wmean(cv1, n1) ** 2 / n1 + _wmean(cv2, n2) ** 2 / n2
        if vtype == "AVHO":
            ok = ~(np.isnan(n1) | np.isnan(n2) | np.isnan(cv1) | np.isnan(cv2))
            cv = (np.sum((n1 * cv1)[ok]) + np.sum((n2 * cv2)[ok])) / np.sum((n1 + n2)[ok])
            return y, cv**2 * (1 / n1 + 1 / n2)
        return y, s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)


def _smd_heteroscedastic(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    """SMDH (Bonett 2008): the mean difference over sqrt((sd1^2 + sd2^2) / 2), bias-corrected
    with c(n1 + n2 - 2), and its large-sample variance (metafor's LS)."""
    m1, m2, s1, s2, n1, n2 = (a[k] for k in ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"))
    _check(n1 <= 1, "n1i", n1, "group sizes > 1")
    _check(n2 <= 1, "n2i", n2, "group sizes > 1")
    _nonnegative(a, ("sd1i", "sd2i"), "standard deviations")
    c = hedges_c(n1 + n2 - 2)
    si = np.sqrt((s1**2 + s2**2) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = c * (m1 - m2) / si
        if vtype == "LS2":
            tot = s1**2 + s2**2
            return y, (
                y**2 * s1**2 / (2 * n1 * tot**2)
                + y**2 * s2**2 / (2 * n2 * tot**2)
                + 2 * s1**2 / (n1 * tot)
                + 2 * s2**2 / (n2 * tot)
            )
        v = y**2 * (s1**4 / (n1 - 1) + s2**4 / (n2 - 1)) / (2 * (s1**2 + s2**2) ** 2) + (
            s1**2 / (n1 - 1) + s2**2 / (n2 - 1)
        ) / ((s1**2 + s2**2) / 2)
    return y, c**2 * v


def _rate_ratio(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    """IRR: log((x1 / t1) / (x2 / t2)), vi = 1/x1 + 1/x2, with ``add`` to both counts of a
    study with a zero (``to``), as metafor."""
    _nonnegative(a, ("x1i", "x2i"), "event counts")
    t1, t2 = a["t1i"], a["t2i"]
    _check(t1 <= 0, "t1i", t1, "person-time > 0")
    _check(t2 <= 0, "t2i", t2, "person-time > 0")
    x1, x2 = a["x1i"].copy(), a["x2i"].copy()
    if drop00:
        both = (x1 == 0) & (x2 == 0)
        x1[both] = np.nan
        x2[both] = np.nan
    x1, x2 = _continuity([x1, x2], add, to)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log((x1 / t1) / (x2 / t2)), 1 / x1 + 1 / x2


def _single_mean(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    """MN: the mean, vi = sd^2 / n; MNLN: log(mean), vi = sd^2 / (n mean^2)."""
    mean, sd, n = a["mi"], a["sdi"], a["ni"]
    _check(n <= 0, "ni", n, "sample sizes > 0")
    _nonnegative(a, ("sdi",), "standard deviations")
    if m == "MN":
        return mean.copy(), sd**2 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(mean), sd**2 / (n * mean**2)


def _arcsine(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    """PAS: asin(sqrt(x / n)), vi = 1 / (4 n); PFT (Freeman-Tukey double arcsine):
    (asin(sqrt(x / (n + 1))) + asin(sqrt((x + 1) / (n + 1)))) / 2, vi = 1 / (4 n + 2). No
    continuity correction (metafor adds none for these)."""
    _nonnegative(a, ("xi", "mi", "ni"), "counts")
    rest = _complement(a, "xi", "ni", "mi", m)
    x = a["xi"]
    n = x + rest
    _check(n == 0, "ni" if "ni" in a else "mi", n, "group sizes > 0")
    if m == "PAS":
        return np.arcsin(np.sqrt(x / n)), 1 / (4 * n)
    return (
        (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1)))) / 2,
        1 / (4 * n + 2),
    )


def _mean_change(m: str, a: Arrays, add: float, to: str, drop00: bool, vtype: str) -> Pair:
    r, n = a["ri"], a["ni"]
    _check(np.abs(r) > 1, "ri", r, "correlations in [-1, 1]")
    _check(
        n <= (0 if m == "MC" else 2),
        "ni",
        n,
        "sample sizes > 0" if m == "MC" else f"ni > 2 for measure={m!r}",
    )
    _nonnegative(a, ("sd1i", "sd2i"), "standard deviations")
    diff = a["m1i"] - a["m2i"]
    if m == "SMCR":
        s1 = a["sd1i"]
        _check(s1 == 0, "sd1i", s1, "sd1i > 0 (the pre-test SD standardises SMCR)")
        g = hedges_c(n - 1) * diff / s1
        return g, 2 * (1 - r) / n + g**2 / (2 * n)
    s1, s2 = a["sd1i"], a["sd2i"]
    var_d = s1**2 + s2**2 - 2 * r * s1 * s2
    _check(var_d <= 0, "sd1i", s1, "sd1i, sd2i and ri giving a change-score variance > 0")
    if m == "MC":
        return diff, var_d / n
    g = hedges_c(n - 1) * diff / np.sqrt(var_d)
    return g, 1 / n + g**2 / (2 * n)


_COMPUTE: dict[str, Callable[[str, Arrays, float, str, bool, str], Pair]] = {
    **dict.fromkeys(("RR", "OR", "RD"), _two_by_two),
    **dict.fromkeys(("PR", "PLO"), _proportion),
    **dict.fromkeys(("ZCOR", "COR"), _correlation),
    **dict.fromkeys(("SMD", "MD"), _two_groups),
    **dict.fromkeys(("SMCC", "SMCR", "MC"), _mean_change),
    "ROM": _ratio_of_means,
    "SMDH": _smd_heteroscedastic,
    "IRR": _rate_ratio,
    **dict.fromkeys(("MN", "MNLN"), _single_mean),
    **dict.fromkeys(("PAS", "PFT"), _arcsine),
}
