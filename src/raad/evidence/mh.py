"""Fixed-effect pooling of 2x2 tables without a normal approximation per study, as metafor's
``rma.mh`` (Mantel-Haenszel: OR, RR, RD) and ``rma.peto`` (Peto's one-step OR).

They suit sparse adverse-event data: a table with a zero cell adds to the pooled estimate
as it is (no 1/2 added), and a table with no events in either arm adds nothing. The
heterogeneity test (Cochran's Q around the pooled estimate), I² and H² use the per-study
estimates from ``escalc`` with metafor's defaults for them (1/2 added to tables with a zero
cell, tables without events in either arm dropped), as metafor does.

Formulas:
- MH OR and its variance: Robins, Breslow & Greenland 1986, Biometrics 42:311-323;
- MH RR and RD and their variances: Greenland & Robins 1985, Biometrics 41:55-68 (RD: the
  variance of Sato, Greenland & Robins 1989, Biometrics 45:1323-1324, as metafor);
- the Cochran-Mantel-Haenszel test (``MH``, with the continuity correction when
  ``correct``) and Cochran's test (``CO``); Breslow-Day (``BD``) and Tarone's correction
  (``TA``) of it: Breslow & Day 1980, Tarone 1985;
- Peto: Yusuf et al. 1985, Prog Cardiovasc Dis 27:335-371.
Each is checked against metafor 3.8.1 (tests/fixtures/metafor/mh.R).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from .errors import EvidenceInputError, strict_json
from .escalc import escalc
from .inputs import normalise_level

MH_MEASURES = ("OR", "RR", "RD")


@dataclass(frozen=True)
class MhResult:
    """A Mantel-Haenszel or Peto fixed-effect result; ``beta`` is on the log scale for OR
    and RR (as metafor's), the risk difference itself for RD."""

    method: str  # "MH" | "PETO"
    measure: str
    beta: float
    se: float
    level: float
    k: int  # tables used (without missing values)
    k_yi: int  # tables in the heterogeneity test
    qe: float
    qep: float
    i2: float
    h2: float
    tests: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (stat, p)
    omitted: tuple[int, ...] = ()

    @property
    def zval(self) -> float:
        return self.beta / self.se

    @property
    def pval(self) -> float:
        return float(2 * stats.norm.sf(abs(self.zval)))

    @property
    def ci(self) -> tuple[float, float]:
        crit = float(stats.norm.isf((1 - self.level / 100) / 2))
        return self.beta - crit * self.se, self.beta + crit * self.se

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.ci
        return strict_json(
            {
                "method": self.method,
                "measure": self.measure,
                "estimate": self.beta,
                "se": self.se,
                "zval": self.zval,
                "pval": self.pval,
                "ci_lb": lo,
                "ci_ub": hi,
                "exp": self.measure in ("OR", "RR"),
                "k": self.k,
                "k_yi": self.k_yi,
                "qe": self.qe,
                "qep": self.qep,
                "i2": self.i2,
                "h2": self.h2,
                "tests": {n: {"stat": s, "pval": p} for n, (s, p) in self.tests.items()},
                "omitted": list(self.omitted),
            }
        )

    def __str__(self) -> str:
        lo, hi = self.ci
        name = "Mantel-Haenszel" if self.method == "MH" else "Peto"
        lines = [
            f"Fixed-effect model ({name}, measure {self.measure}; k = {self.k})",
            f"Test for heterogeneity: Q({self.k_yi - 1}) = {self.qe:.4f}, p = {self.qep:.4g};"
            f" I^2 = {self.i2:.2f}%, H^2 = {self.h2:.4f}",
            f"estimate {self.beta:.4f}  se {self.se:.4f}  z {self.zval:.4f}  p {self.pval:.4g}"
            f"  CI [{lo:.4f}, {hi:.4f}]",
        ]
        if self.measure in ("OR", "RR"):
            lines.append(
                f"exponentiated: {math.exp(self.beta):.4f} [{math.exp(lo):.4f}, {math.exp(hi):.4f}]"
            )
        for n, (s, p) in self.tests.items():
            lines.append(f"{n}: {s:.4f}, p = {p:.4g}")
        return "\n".join(lines)


def _tables(ai: Any, bi: Any, ci: Any, di: Any):
    arrays = {}
    for name, value in (("ai", ai), ("bi", bi), ("ci", ci), ("di", di)):
        try:
            arr = np.asarray(
                [np.nan if x is None else x for x in np.atleast_1d(value)], dtype=float
            )
        except (TypeError, ValueError):
            raise EvidenceInputError(name, value, "counts (numbers >= 0)") from None
        arrays[name] = arr
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise EvidenceInputError("ai", "arrays of different lengths", "one count per table each")
    a, b, c, d = (arrays[n] for n in ("ai", "bi", "ci", "di"))
    ok = ~(np.isnan(a) | np.isnan(b) | np.isnan(c) | np.isnan(d))
    for name, arr in arrays.items():
        if np.any(arr[ok] < 0) or np.isinf(arr).any():
            raise EvidenceInputError(name, "a negative or infinite count", "counts >= 0")
    if not ok.any():
        raise EvidenceInputError("ai", "every table has a missing count", "at least one table")
    omitted = tuple(int(i) for i in np.flatnonzero(~ok))
    return a[ok], b[ok], c[ok], d[ok], omitted


def _heterogeneity(measure, a, b, c, d, beta):
    es = escalc(measure, ai=a, bi=b, ci=c, di=d, add=0.5, to="only0", drop00=True)
    keep = ~(np.isnan(es.yi) | np.isnan(es.vi))
    y, v = es.yi[keep], es.vi[keep]
    k_yi = int(keep.sum())
    if k_yi <= 1:
        return k_yi, 0.0, 1.0, 0.0, 1.0
    qe = float(np.sum((y - beta) ** 2 / v))
    qep = float(stats.chi2.sf(qe, k_yi - 1))
    i2 = max(0.0, 100 * (qe - (k_yi - 1)) / qe) if qe > 0 else 0.0
    return k_yi, qe, qep, i2, qe / (k_yi - 1)


def rma_mh(
    ai: Any,
    bi: Any,
    ci: Any,
    di: Any,
    *,
    measure: str = "OR",
    correct: bool = True,
    level: float = 95,
) -> MhResult:
    """Mantel-Haenszel pooling of 2x2 tables (metafor's ``rma.mh``); a table with a missing
    count is left out (``omitted``: its position). For OR the result also holds the
    Cochran-Mantel-Haenszel test (``MH``; continuity-corrected when ``correct``), Cochran's
    test (``CO``), Breslow-Day (``BD``) and Tarone's test (``TA``) of homogeneity."""
    if not isinstance(measure, str) or measure.upper() not in MH_MEASURES:
        raise EvidenceInputError("measure", measure, f"one of {', '.join(MH_MEASURES)}")
    m = measure.upper()
    lv = normalise_level(level)
    a, b, c, d, omitted = _tables(ai, bi, ci, di)
    n1, n2 = a + b, c + d
    n = n1 + n2
    use = n > 0
    a, b, c, d, n1, n2, n = (x[use] for x in (a, b, c, d, n1, n2, n))
    tests: dict[str, tuple[float, float]] = {}
    if m == "OR":
        R, S = a * d / n, b * c / n
        P, Q = (a + d) / n, (b + c) / n
        sR, sS = R.sum(), S.sum()
        if sR == 0 or sS == 0:
            raise EvidenceInputError("ai", "no events to compare", "tables with discordant cells")
        beta = math.log(sR / sS)
        var = (
            np.sum(P * R) / (2 * sR**2)
            + np.sum(P * S + Q * R) / (2 * sR * sS)
            + np.sum(Q * S) / (2 * sS**2)
        )
        tests = _or_tests(a, b, c, d, n1, n2, n, sR / sS, correct)
    elif m == "RR":
        R, S = a * n2 / n, c * n1 / n
        sR, sS = R.sum(), S.sum()
        if sR == 0 or sS == 0:
            raise EvidenceInputError("ai", "no events in one arm", "events in both arms")
        beta = math.log(sR / sS)
        var = np.sum((n1 * n2 * (a + c) - a * c * n) / n**2) / (sR * sS)
    else:
        w = n1 * n2 / n
        beta = float(np.sum((a * n2 - c * n1) / n) / w.sum())
        P = (n1**2 * c - n2**2 * a + n1 * n2 * (n2 - n1) / 2) / n**2
        Q = (a * (n2 - c) + c * (n1 - a)) / (2 * n)
        var = (beta * P.sum() + Q.sum()) / w.sum() ** 2
    k_yi, qe, qep, i2, h2 = _heterogeneity(m, a, b, c, d, beta)
    return MhResult(
        "MH",
        m,
        float(beta),
        float(math.sqrt(var)),
        lv,
        len(a),
        k_yi,
        qe,
        qep,
        i2,
        h2,
        tests,
        omitted,
    )


def _or_tests(a, b, c, d, n1, n2, n, psi, correct):
    m1 = a + c
    m2 = b + d
    e = n1 * m1 / n
    inform = n > 1
    v_mh = np.where(inform, n1 * n2 * m1 * m2 / (n**2 * np.maximum(n - 1, 1)), 0.0)
    v_co = n1 * n2 * m1 * m2 / n**3
    diff = abs(float(np.sum(a - e)))
    cc = 0.5 if correct else 0.0
    out = {}
    for name, v in (("CO", v_co), ("MH", v_mh)):
        stat = max(0.0, diff - cc) ** 2 / float(v.sum())
        out[name] = (stat, float(stats.chi2.sf(stat, 1)))
    # Breslow-Day (and Tarone) over tables whose margins leave room for the fitted count
    lo = np.maximum(0.0, m1 - n2)
    hi = np.minimum(n1, m1)
    fit = lo < hi
    A = np.array([_fitted_a(psi, n1[i], n2[i], m1[i]) for i in np.flatnonzero(fit)])
    a_, n1_, n2_, m1_ = a[fit], n1[fit], n2[fit], m1[fit]
    B, C = n1_ - A, m1_ - A
    D = n2_ - C
    var_a = 1 / (1 / A + 1 / B + 1 / C + 1 / D)
    bd = float(np.sum((a_ - A) ** 2 / var_a))
    ta = bd - float(np.sum(a_ - A)) ** 2 / float(var_a.sum())
    df = int(fit.sum()) - 1
    out["BD"] = (bd, float(stats.chi2.sf(bd, df)) if df > 0 else math.nan)
    out["TA"] = (ta, float(stats.chi2.sf(ta, df)) if df > 0 else math.nan)
    return out


def _fitted_a(psi: float, n1: float, n2: float, m1: float) -> float:
    """The count in cell a that gives odds ratio ``psi`` with the table's margins."""
    lo, hi = max(0.0, m1 - n2), min(n1, m1)

    def f(x: float) -> float:
        return x * (n2 - m1 + x) - psi * (n1 - x) * (m1 - x)

    return float(optimize.brentq(f, lo, hi, xtol=1e-14, rtol=1e-15))


def rma_peto(ai: Any, bi: Any, ci: Any, di: Any, *, level: float = 95) -> MhResult:
    """Peto's one-step odds ratio (metafor's ``rma.peto``): the sum of observed minus
    expected events over the sum of their hypergeometric variances; Q from the per-table
    Peto estimates (tables with no variance, e.g. no events in either arm, left out)."""
    lv = normalise_level(level)
    a, b, c, d, omitted = _tables(ai, bi, ci, di)
    n1, n2 = a + b, c + d
    n = n1 + n2
    m1, m2 = a + c, b + d
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(n > 0, n1 * m1 / n, 0.0)
        v = np.where(n > 1, n1 * n2 * m1 * m2 / (n**2 * (n - 1)), 0.0)
    if v.sum() <= 0:
        raise EvidenceInputError("ai", "no table with events", "tables with events")
    o_e = a - e
    beta = float(o_e.sum() / v.sum())
    se = float(1 / math.sqrt(v.sum()))
    keep = v > 0
    k_yi = int(keep.sum())
    if k_yi > 1:
        yi, vi = o_e[keep] / v[keep], 1 / v[keep]
        qe = float(np.sum((yi - beta) ** 2 / vi))
        qep = float(stats.chi2.sf(qe, k_yi - 1))
        i2 = max(0.0, 100 * (qe - (k_yi - 1)) / qe) if qe > 0 else 0.0
        h2 = qe / (k_yi - 1)
    else:
        qe, qep, i2, h2 = 0.0, 1.0, 0.0, 1.0
    return MhResult("PETO", "OR", beta, se, lv, len(a), k_yi, qe, qep, i2, h2, {}, omitted)
