"""Effect sizes and their sampling variances, with metafor's definitions and argument names.

References (as in metafor's documentation, Viechtbauer 2010, doi:10.18637/jss.v036.i03):
- MD, SMD: Hedges (1981, doi:10.3102/10769986006002107); SMD is Hedges' g with the exact
  bias correction ``c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))``, ``m = n1 + n2 - 2``;
  large-sample variance ``1/n1 + 1/n2 + g^2 / (2 (n1 + n2))`` (vtype "LS"), unbiased
  estimator with vtype "UB" (Hedges 1983).
- MC, SMCC, SMCR: Becker (1988, doi:10.1111/j.2044-8317.1988.tb00901.x), Morris (2000,
  2008, doi:10.1177/1094428106291059): standardized mean change using the change-score SD
  (SMCC) or the raw-score (pre) SD (SMCR), given the pre-post correlation ``ri``.
- RR, OR, RD: log risk ratio, log odds ratio, risk difference of 2x2 tables; with
  ``to="only0"`` the value ``add`` (default 1/2) is added to every cell of a table that has a
  zero cell (metafor's default, also for RD); ``drop00`` drops tables with no events (or only
  events) in both groups.
- PR, PLO: raw and logit-transformed proportions; ZCOR, COR: Fisher's r-to-z and raw r.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .errors import EvidenceInputError, as_float_array, same_length
from .inputs import column, study_labels

MEASURES = ("SMD", "MD", "SMCC", "SMCR", "MC", "RR", "OR", "RD", "PLO", "PR", "ZCOR", "COR")
RATIO = {"RR", "OR"}
_REQUIRED = {
    "SMD": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "MD": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "SMCC": ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"),
    "SMCR": ("m1i", "m2i", "sd1i", "ni", "ri"),
    "MC": ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"),
    "ZCOR": ("ri", "ni"),
    "COR": ("ri", "ni"),
}
_VTYPES = {"SMD": ("LS", "UB"), "MD": ("LS", "UB", "HO"), "RD": ("LS", "UB")}
_TO = ("only0", "all", "if0all", "none")


@dataclass(frozen=True)
class EscalcResult:
    """Effect sizes ``yi`` with sampling variances ``vi`` (NaN for tables dropped by drop00)."""

    yi: np.ndarray
    vi: np.ndarray
    measure: str
    slab: tuple[str, ...]

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
        """The studies that have an effect size (rma refuses NaN rather than skip them silently)."""
        keep = ~self.dropped
        return EscalcResult(self.yi[keep], self.vi[keep], self.measure,
                            tuple(s for s, k in zip(self.slab, keep, strict=True) if k))

    def __len__(self) -> int:
        return self.k

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"slab": list(self.slab), "yi": self.yi, "vi": self.vi,
                             "sei": self.sei})

    def to_dict(self) -> dict[str, Any]:
        return {"measure": self.measure, "slab": list(self.slab),
                "yi": [None if np.isnan(x) else float(x) for x in self.yi],
                "vi": [None if np.isnan(x) else float(x) for x in self.vi]}

    def __str__(self) -> str:
        width = max([len("study"), *(len(s) for s in self.slab)])
        lines = [f"Effect sizes: {self.measure} (k = {self.k})",
                 f"  {'study'.ljust(width)}  {'yi':>9}  {'vi':>9}"]
        for s, y, v in zip(self.slab, self.yi, self.vi, strict=True):
            ys = "NA" if np.isnan(y) else f"{y:.4f}"
            vs = "NA" if np.isnan(v) else f"{v:.4f}"
            lines.append(f"  {s.ljust(width)}  {ys:>9}  {vs:>9}")
        return "\n".join(lines)


def hedges_c(m: np.ndarray) -> np.ndarray:
    """Exact small-sample correction ``Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))`` (Hedges 1981)."""
    with np.errstate(invalid="ignore"):
        return np.where(m > 1, np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2))
                                      - gammaln((m - 1) / 2)), np.nan)


def escalc(
    measure: str,
    *,
    ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None,
    n1i: Any = None, n2i: Any = None,
    m1i: Any = None, m2i: Any = None, sd1i: Any = None, sd2i: Any = None,
    xi: Any = None, mi: Any = None, ni: Any = None, ri: Any = None,
    data: pd.DataFrame | None = None,
    slab: Any = None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
) -> EscalcResult:
    """Compute effect sizes ``yi`` and sampling variances ``vi`` (see the module docstring).

    Arguments may be arrays or, with ``data``, column names. Required per measure:
    SMD/MD: m1i sd1i n1i m2i sd2i n2i; SMCC/MC: m1i m2i sd1i sd2i ni ri; SMCR: m1i m2i sd1i ni ri;
    RR/OR/RD: ai ci and (bi di) or (n1i n2i); PR/PLO: xi and (mi or ni); ZCOR/COR: ri ni.
    """
    if not isinstance(measure, str) or measure.upper() not in MEASURES:
        raise EvidenceInputError("measure", measure, f"one of {', '.join(MEASURES)}")
    m = measure.upper()
    if to not in _TO:
        raise EvidenceInputError("to", to, f"one of {', '.join(_TO)}")
    if vtype not in _VTYPES.get(m, ("LS",)):
        raise EvidenceInputError("vtype", vtype, f"one of {', '.join(_VTYPES.get(m, ('LS',)))} for measure={m!r}")
    if isinstance(add, bool) or not isinstance(add, int | float) or add < 0:
        raise EvidenceInputError("add", add, "a number >= 0")
    raw = {"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i, "m1i": m1i,
           "m2i": m2i, "sd1i": sd1i, "sd2i": sd2i, "xi": xi, "mi": mi, "ni": ni, "ri": ri}
    arrays = {k: as_float_array(k, column(data, k, v)) for k, v in raw.items() if v is not None}
    if m in _REQUIRED:
        _need(arrays, _REQUIRED[m], m)
    k = same_length(**arrays)
    if m in ("RR", "OR", "RD"):
        yi, vi = _two_by_two(m, arrays, add, to, drop00, vtype)
    elif m in ("PR", "PLO"):
        yi, vi = _proportion(m, arrays, add, to)
    elif m in ("ZCOR", "COR"):
        yi, vi = _correlation(m, arrays)
    elif m in ("SMD", "MD"):
        yi, vi = _two_groups(m, arrays, vtype)
    else:
        yi, vi = _mean_change(m, arrays)
    labels = study_labels(column(data, "slab", slab) if isinstance(slab, str) else slab, k)
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    bad = ~np.isfinite(yi) | ~np.isfinite(vi)  # e.g. a zero cell with to="none": as metafor, NA
    yi[bad] = np.nan
    vi[bad] = np.nan
    return EscalcResult(yi, vi, m, labels)


def _need(arrays: dict[str, np.ndarray], names: Sequence[str], m: str) -> None:
    for n in names:
        if n not in arrays:
            raise EvidenceInputError(n, None, f"required for measure={m!r} ({', '.join(names)})")


def _nonneg(a: dict[str, np.ndarray], *names: str) -> None:
    for n in names:
        if n in a and np.any(a[n] < 0):
            raise EvidenceInputError(n, f"negative value at {np.flatnonzero(a[n] < 0).tolist()[:10]}", "values >= 0")


def _positive(a: dict[str, np.ndarray], *names: str) -> None:
    for n in names:
        if n in a and np.any(a[n] <= 0):
            raise EvidenceInputError(n, f"value <= 0 at {np.flatnonzero(a[n] <= 0).tolist()[:10]}", "values > 0")


def _two_by_two(m, a, add, to, drop00, vtype):
    _need(a, ("ai", "ci"), m)
    _nonneg(a, "ai", "bi", "ci", "di", "n1i", "n2i")
    ai, ci = a["ai"], a["ci"]
    if "bi" in a:
        bi = a["bi"]
    elif "n1i" in a:
        bi = a["n1i"] - ai
        if np.any(bi < 0):
            raise EvidenceInputError("ai", "counts larger than n1i", "ai <= n1i")
    else:
        raise EvidenceInputError("bi", None, f"required for measure={m!r} (or n1i)")
    if "di" in a:
        di = a["di"]
    elif "n2i" in a:
        di = a["n2i"] - ci
        if np.any(di < 0):
            raise EvidenceInputError("ci", "counts larger than n2i", "ci <= n2i")
    else:
        raise EvidenceInputError("di", None, f"required for measure={m!r} (or n2i)")
    ai, bi, ci, di = (x.astype(float).copy() for x in (ai, bi, ci, di))
    if drop00:
        d00 = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        for x in (ai, bi, ci, di):
            x[d00] = np.nan
    if to == "all":
        ai, bi, ci, di = ai + add, bi + add, ci + add, di + add
    elif to in ("only0", "if0all"):
        zero = (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)
        if to == "if0all":
            zero = np.full_like(zero, zero.any())
        inc = np.where(zero, add, 0.0)
        ai, bi, ci, di = ai + inc, bi + inc, ci + inc, di + inc
    n1, n2 = ai + bi, ci + di
    p1, p2 = ai / n1, ci / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        if m == "RR":
            return np.log(p1) - np.log(p2), 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        if m == "OR":
            return (np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2)),
                    1 / ai + 1 / bi + 1 / ci + 1 / di)
        d = (n1, n2) if vtype == "LS" else (n1 - 1, n2 - 1)
        return p1 - p2, p1 * (1 - p1) / d[0] + p2 * (1 - p2) / d[1]


def _proportion(m, a, add, to):
    _need(a, ("xi",), m)
    if "mi" not in a and "ni" not in a:
        raise EvidenceInputError("mi", None, f"required for measure={m!r} (or ni)")
    _nonneg(a, "xi", "mi", "ni")
    x = a["xi"].astype(float).copy()
    if "mi" in a and "ni" in a and np.any(a["ni"] != x + a["mi"]):
        raise EvidenceInputError("ni", "values other than xi + mi", "ni = xi + mi")
    rest = a["mi"].astype(float).copy() if "mi" in a else a["ni"] - x
    if np.any(rest < 0):
        raise EvidenceInputError("xi", "counts larger than ni", "xi <= ni")
    if np.any(x + rest <= 0):
        raise EvidenceInputError("ni", "a group size of 0", "group sizes > 0")
    if to == "all":
        x, rest = x + add, rest + add
    elif to in ("only0", "if0all"):
        zero = (x == 0) | (rest == 0)
        if to == "if0all":
            zero = np.full_like(zero, zero.any())
        inc = np.where(zero, add, 0.0)
        x, rest = x + inc, rest + inc
    n = x + rest
    p = x / n
    with np.errstate(divide="ignore", invalid="ignore"):
        if m == "PR":
            return p, p * (1 - p) / n
        return np.log(p / (1 - p)), 1 / x + 1 / rest


def _correlation(m, a):
    r, n = a["ri"], a["ni"]
    if np.any(np.abs(r) > 1):
        raise EvidenceInputError("ri", "a correlation outside [-1, 1]", "values in [-1, 1]")
    _positive(a, "ni")
    if m == "ZCOR":
        if np.any(n <= 3):
            raise EvidenceInputError("ni", "a sample size <= 3", "ni > 3 for measure='ZCOR'")
        if np.any(np.abs(r) == 1):
            raise EvidenceInputError("ri", "a correlation of exactly +/-1", "|ri| < 1 for measure='ZCOR'")
        return np.arctanh(r), 1 / (n - 3)
    if np.any(n <= 1):
        raise EvidenceInputError("ni", "a sample size <= 1", "ni > 1 for measure='COR'")
    return r.copy(), (1 - r**2) ** 2 / (n - 1)


def _two_groups(m, a, vtype):
    _positive(a, "n1i", "n2i")
    _nonneg(a, "sd1i", "sd2i")
    n1, n2, s1, s2 = a["n1i"], a["n2i"], a["sd1i"], a["sd2i"]
    dfree = n1 + n2 - 2
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / dfree)
    if m == "MD":
        yi = a["m1i"] - a["m2i"]
        vi = sp**2 * (1 / n1 + 1 / n2) if vtype == "HO" else s1**2 / n1 + s2**2 / n2
        return yi, vi
    if np.any(dfree <= 1):
        raise EvidenceInputError("n1i", "n1i + n2i <= 3", "n1i + n2i > 3 for measure='SMD'")
    if np.any(sp == 0):
        raise EvidenceInputError("sd1i", "a pooled SD of 0", "standard deviations > 0")
    c = hedges_c(dfree)
    yi = c * (a["m1i"] - a["m2i"]) / sp
    if vtype == "UB":
        return yi, 1 / n1 + 1 / n2 + (1 - (dfree - 2) / (dfree * c**2)) * yi**2
    return yi, 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))


def _mean_change(m, a):
    r, n = a["ri"], a["ni"]
    if np.any(np.abs(r) > 1):
        raise EvidenceInputError("ri", "a correlation outside [-1, 1]", "values in [-1, 1]")
    _positive(a, "ni")
    _nonneg(a, "sd1i", "sd2i")
    diff = a["m1i"] - a["m2i"]
    if m == "SMCR":
        if np.any(n <= 2):
            raise EvidenceInputError("ni", "a sample size <= 2", "ni > 2 for measure='SMCR'")
        _positive(a, "sd1i")
        yi = hedges_c(n - 1) * diff / a["sd1i"]
        return yi, 2 * (1 - r) / n + yi**2 / (2 * n)
    s1, s2 = a["sd1i"], a["sd2i"]
    var_d = s1**2 + s2**2 - 2 * r * s1 * s2
    if m == "MC":
        return diff, var_d / n
    if np.any(n <= 2):
        raise EvidenceInputError("ni", "a sample size <= 2", "ni > 2 for measure='SMCC'")
    if np.any(var_d <= 0):
        raise EvidenceInputError("ri", "a change-score SD of 0", "sd1i, sd2i and ri giving a positive change-score variance")
    yi = hedges_c(n - 1) * diff / np.sqrt(var_d)
    return yi, 1 / n + yi**2 / (2 * n)
