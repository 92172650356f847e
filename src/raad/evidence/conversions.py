"""Conversions of what trial reports give into what pooling needs, as metafor's ``conv.*``
functions (checked against metafor 5.1-12: tests/fixtures/metafor/conv.R).

- ``se_from_ci``/``se_from_p`` and ``conv_wald``: an estimate with its Wald confidence
  interval or two-sided p-value to an estimate and sampling variance,
  ``vi = ((ub - lb) / (2 q))^2`` or ``vi = (yi / q_p)^2``, with q the normal quantile (metafor)
  or, given ``df``, the t quantile the Cochrane Handbook (6.5.2.3) asks for in small trials
  (Altman & Bland 2011, BMJ 343:d2090, doi:10.1136/bmj.d2090).
- ``conv_fivenum``: minimum / quartiles / median / maximum to a mean and SD: Luo et al. 2016
  (doi:10.1177/0962280216669183) eqs. 7, 11 and 15 for the mean, Wan et al. 2014
  (doi:10.1186/1471-2288-14-135) eqs. 9 and 16 and Shi et al. 2020a (doi:10.1002/jrsm.1429)
  eq. 10 for the SD; log-normal data as Shi et al. 2020b (doi:10.4310/sii.2020.v13.n4.a9);
  studies whose quantiles are skewed by the test of Shi et al. 2023
  (doi:10.1177/09622802231172043) are left out unless ``test=False``; and the older methods
  of Hozo et al. 2005 (doi:10.1186/1471-2288-5-13), Bland 2015
  (doi:10.6000/1929-6029.2015.04.01.6) and Walter & Yao 2007
  (doi:10.1016/j.jclinepi.2006.11.003). Methods that need other R packages (qe, bc, mln,
  blue) are not offered.
- ``conv_2x2``: cell counts from an odds ratio (Bonett 2007,
  doi:10.1016/j.csda.2007.01.026), a phi coefficient or a (signed, by default
  Yates-corrected) chi-square statistic, with the total and both margins; and
  ``events_from_risk``: counts from a reported percentage and the arm size, with every count
  that the rounding allows.
- ``conv_delta``: an estimate and its variance through a smooth transformation by the delta
  method, ``vi' = f'(yi)^2 vi`` (the derivative by central differences, Richardson-extrapolated).
"""

from __future__ import annotations

import builtins
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import integrate, stats

from .errors import EvidenceInputError, EvidenceWarning, strict_json
from .inputs import normalise_level

FIVENUM_METHODS = ("luo/wan/shi", "wan2014", "hozo2005", "bland2015", "walter2007")
_SD_METHODS = ("luo/wan/shi", "wan2014", "hozo2005", "bland2015", "walter2007")


def _arr(name: str, value: Any, k: int | None = None) -> np.ndarray:
    if value is None:
        return np.full(k or 1, np.nan)
    try:
        out = np.asarray([np.nan if v is None else v for v in np.atleast_1d(value)], dtype=float)
    except (TypeError, ValueError):
        raise EvidenceInputError(name, value, "numbers (None or NaN where not reported)") from None
    if np.isinf(out).any():
        raise EvidenceInputError(name, "an infinite value", "finite numbers")
    return out


def _broadcast(**arrays: np.ndarray) -> tuple[int, dict[str, np.ndarray]]:
    k = max(len(a) for a in arrays.values())
    out = {}
    for name, a in arrays.items():
        if len(a) == 1 and k > 1:
            a = np.repeat(a, k)
        if len(a) != k:
            raise EvidenceInputError(
                name, f"{len(a)} values", f"one per study ({k}) or one for all"
            )
        out[name] = a
    return k, out


def _quantile(tail: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Upper-tail quantile: normal where df is NaN, t with df otherwise."""
    z = stats.norm.isf(tail)
    with np.errstate(invalid="ignore"):
        t = stats.t.isf(tail, np.where(np.isnan(df), 1.0, df))
    return np.where(np.isnan(df), z, t)


def _df(df: Any, k: int) -> np.ndarray:
    d = _arr("df", df, k)
    if len(d) == 1 and k > 1:
        d = np.repeat(d, k)
    if np.any(d[~np.isnan(d)] <= 0):
        raise EvidenceInputError("df", df, "degrees of freedom > 0 (None for the normal quantile)")
    return d


def se_from_ci(lower: float, upper: float, *, level: float = 95, df: float | None = None) -> float:
    """Standard error from a symmetric (Wald) CI: ``(upper - lower) / (2 q)``; q normal, or t
    with ``df`` (Cochrane Handbook 6.5.2.3). Raises EvidenceInputError if upper <= lower."""
    if not (math.isfinite(lower) and math.isfinite(upper)) or upper <= lower:
        raise EvidenceInputError("ci", (lower, upper), "finite bounds with lower < upper")
    lv = normalise_level(level)
    q = float(_quantile(np.array([(1 - lv / 100) / 2]), _df(df, 1))[0])
    return (upper - lower) / (2 * q)


def se_from_p(estimate: float, p: float, *, df: float | None = None) -> float:
    """Standard error from an estimate and its two-sided p-value: ``|estimate| / q(p/2)``;
    q normal, or t with ``df`` (Altman & Bland 2011). p must be in (0, 1)."""
    if not (isinstance(p, int | float) and 0 < p < 1):
        raise EvidenceInputError("p", p, "a two-sided p-value strictly between 0 and 1")
    q = float(_quantile(np.array([p / 2]), _df(df, 1))[0])
    return abs(estimate) / q


@dataclass(frozen=True)
class WaldConversion:
    """``yi``/``vi`` per study (NaN where nothing could be converted) and ``basis``: "ci",
    "ci_ub" (estimate and upper bound only), "p" (from the p- or z-value) or "none"."""

    yi: np.ndarray
    vi: np.ndarray
    basis: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return strict_json({"yi": self.yi, "vi": self.vi, "basis": list(self.basis)})


def conv_wald(
    out: Any,
    ci_lb: Any = None,
    ci_ub: Any = None,
    *,
    pval: Any = None,
    zval: Any = None,
    level: float = 95,
    df: Any = None,
    transf: Callable[[float], float] | None = None,
    check: bool = True,
) -> WaldConversion:
    """Estimates with Wald CIs, or with p/z-values, to ``yi``/``vi`` (metafor's ``conv.wald``).

    ``out``, ``ci_lb``, ``ci_ub``, ``pval``, ``zval``, ``df``: one value per study (or one for
    all), None/NaN where not reported. ``transf`` (e.g. ``math.log`` for odds ratios) is applied
    to the estimate and bounds first. With ``df`` the quantiles are t quantiles (metafor uses
    the normal). ``check`` warns (EvidenceWarning) about CIs that are not symmetric around the
    estimate (their midpoint more than a tenth of their width away): a sign the estimate was
    reported on another scale than the interval, or ``transf`` is missing.
    """
    yi0 = _arr("out", out)
    k, a = _broadcast(
        out=yi0,
        ci_lb=_arr("ci_lb", ci_lb, len(yi0)),
        ci_ub=_arr("ci_ub", ci_ub, len(yi0)),
        pval=_arr("pval", pval, len(yi0)),
        zval=_arr("zval", zval, len(yi0)),
    )
    d = _df(df, k)
    lv = normalise_level(level)
    p = a["pval"]
    if np.any((p[~np.isnan(p)] <= 0) | (p[~np.isnan(p)] > 1)):
        raise EvidenceInputError("pval", pval, "two-sided p-values in (0, 1]")
    yi, lb, ub = a["out"], a["ci_lb"], a["ci_ub"]
    if transf is not None:
        if not callable(transf):
            raise EvidenceInputError("transf", transf, "a function of one number, e.g. math.log")

        def tr(x: np.ndarray) -> np.ndarray:
            return np.array([np.nan if np.isnan(v) else float(transf(float(v))) for v in x])

        try:
            yi, lb, ub = tr(yi), tr(lb), tr(ub)
        except (ValueError, OverflowError) as exc:
            raise EvidenceInputError("transf", transf, f"defined at every value ({exc})") from None
    if np.any(ub < lb):
        raise EvidenceInputError("ci_ub", ci_ub, "upper bounds above the lower bounds")
    crit = _quantile(np.full(k, (1 - lv / 100) / 2), d)
    vi = np.where(np.isnan(lb), ((ub - yi) / crit) ** 2, ((ub - lb) / (2 * crit)) ** 2)
    basis = np.where(np.isnan(vi), "none", np.where(np.isnan(lb), "ci_ub", "ci")).astype(object)
    if check:
        with np.errstate(invalid="ignore", divide="ignore"):
            off = np.abs((ub + lb) / 2 - yi) / (ub - lb) > 0.1
        if off.any():
            warnings.warn(
                "confidence intervals not symmetric around the estimate (on another scale? "
                f"see transf) at position(s) {np.flatnonzero(off).tolist()}",
                EvidenceWarning,
                stacklevel=2,
            )
    z = a["zval"].copy()
    from_p = np.isnan(z) & ~np.isnan(p)
    z[from_p] = _quantile(p[from_p] / 2, d[from_p])
    vp = (yi / z) ** 2
    use_p = np.isnan(vi) & ~np.isnan(vp)
    vi = np.where(use_p, vp, vi)
    basis[use_p] = "p"
    return WaldConversion(yi, vi, tuple(str(b) for b in basis))


@dataclass(frozen=True)
class FivenumConversion:
    """Estimated ``mean`` and ``sd`` per study (NaN where not estimable), the skewness test's
    statistic ``tval``, critical value ``crit`` and result ``sig``, and which case each study
    was (1: min/median/max; 2: q1/median/q3; 3: all five; 0: too few values or n < 5)."""

    mean: np.ndarray
    sd: np.ndarray
    tval: np.ndarray
    crit: np.ndarray
    sig: tuple[bool | None, ...]
    case: tuple[int, ...]
    method: tuple[str, str]
    dist: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return strict_json(
            {
                "mean": self.mean,
                "sd": self.sd,
                "tval": self.tval,
                "crit": self.crit,
                "sig": list(self.sig),
                "case": list(self.case),
                "method": list(self.method),
                "dist": list(self.dist),
            }
        )


def _expected_range(n: float) -> float:
    """Expected range of n standard normal values (Walter & Yao 2007)."""

    def f(x: float) -> float:
        a = stats.norm.cdf(x)
        return 1 - (1 - a) ** n - a**n

    return float(integrate.quad(f, -np.inf, np.inf, epsabs=0, epsrel=1e-12)[0])


def conv_fivenum(
    min: Any = None,  # metafor's argument name
    q1: Any = None,
    median: Any = None,
    q3: Any = None,
    max: Any = None,  # metafor's argument name
    n: Any = None,
    *,
    method: str | tuple[str, str] = "luo/wan/shi",
    dist: str | list[str] = "norm",
    transf: bool = True,
    test: bool = True,
) -> FivenumConversion:
    """Means and SDs from five-number summaries (metafor's ``conv.fivenum``).

    One value per study for each of ``min``, ``q1``, ``median``, ``q3``, ``max``, ``n``
    (None/NaN where not reported). Case 1 needs min and max, case 2 q1 and q3, case 3 all
    four (the median is needed for the mean only). ``method``: one of FIVENUM_METHODS, or a
    pair (mean method, SD method). ``dist="lnorm"`` assumes log-normal data (luo/wan/shi
    only) and, with ``transf``, returns the raw-scale mean and SD. Studies with n < 5, or
    whose quantiles fail the skewness test when ``test``, get NaN. Raises EvidenceInputError
    when the quantiles are out of order.
    """
    meth = (method, method) if isinstance(method, str) else tuple(method)
    if len(meth) != 2 or meth[0] not in FIVENUM_METHODS or meth[1] not in _SD_METHODS:
        raise EvidenceInputError("method", method, f"one of {', '.join(FIVENUM_METHODS)} or a pair")
    vals = {
        "min": _arr("min", min),
        "q1": _arr("q1", q1),
        "median": _arr("median", median),
        "q3": _arr("q3", q3),
        "max": _arr("max", max),
        "n": _arr("n", n),
    }
    k, v = _broadcast(**vals)
    dists = [dist] * k if isinstance(dist, str) else list(dist)
    if len(dists) != k or any(x not in ("norm", "lnorm") for x in dists):
        raise EvidenceInputError("dist", dist, "'norm' or 'lnorm' (one, or one per study)")
    if "lnorm" in dists and meth != ("luo/wan/shi", "luo/wan/shi"):
        raise EvidenceInputError("method", method, "'luo/wan/shi' when dist='lnorm'")
    order = np.column_stack([v["min"], v["q1"], v["median"], v["q3"], v["max"]])
    for i in range(k):
        row = order[i][~np.isnan(order[i])]
        if np.any(np.diff(row) < 0):
            raise EvidenceInputError(
                "min/q1/median/q3/max",
                f"study {i}: {order[i].tolist()}",
                "min <= q1 <= median <= q3 <= max",
            )
    nn = v["n"]
    means, sds = np.full(k, np.nan), np.full(k, np.nan)
    tval, crit = np.full(k, np.nan), np.full(k, np.nan)
    sig: list[bool | None] = [None] * k
    cases: list[int] = [0] * k
    for i in range(k):
        ni = nn[i]
        if np.isnan(ni) or ni < 5:
            continue
        lo, a1, me, a3, hi = order[i]
        ln = dists[i] == "lnorm"
        if ln:
            if np.any(order[i][~np.isnan(order[i])] <= 0):
                raise EvidenceInputError(
                    "min", f"study {i}: a value <= 0", "positive values for dist='lnorm'"
                )
            lo, a1, me, a3, hi = np.log([lo, a1, me, a3, hi])
        has_r = not (np.isnan(lo) or np.isnan(hi))
        has_q = not (np.isnan(a1) or np.isnan(a3))
        case = 3 if has_r and has_q else 1 if has_r else 2 if has_q else 0
        cases[i] = case
        if case == 0:
            continue
        xi = 2 * stats.norm.ppf((ni - 0.375) / (ni + 0.25))
        eta = 2 * stats.norm.ppf((0.75 * ni - 0.125) / (ni + 0.25))
        # skewness test, Shi et al. 2023
        if case == 1:
            t_ = abs((lo + hi - 2 * me) / (hi - lo))
            c_ = 1 / math.log(ni + 9) + 2.5 / (ni + 1)
        elif case == 2:
            t_ = abs((a1 + a3 - 2 * me) / (a3 - a1))
            c_ = 2.65 / math.sqrt(ni) - 6 / ni**2
        else:
            t_ = builtins.max(
                2.65 * math.log(0.6 * ni) / math.sqrt(ni) * abs((lo + hi - 2 * me) / (hi - lo)),
                abs((a1 + a3 - 2 * me) / (a3 - a1)),
            )
            c_ = 3 / math.sqrt(ni) - 40 / ni**3
        tval[i], crit[i] = t_, c_
        sig[i] = bool(t_ >= c_) if not np.isnan(t_) else False
        if test and sig[i]:
            continue
        mm, sm = meth
        if case == 1:
            if mm == "luo/wan/shi":
                w = 4 / (4 + ni**0.75)
                means[i] = w * (lo + hi) / 2 + (1 - w) * me
            elif mm == "hozo2005":
                means[i] = (lo + 2 * me + hi) / 4 if ni <= 25 else me
            elif mm == "wan2014":
                means[i] = (lo + 2 * me + hi) / 4
            elif mm == "walter2007":
                means[i] = me
            if sm in ("luo/wan/shi", "wan2014"):
                z1 = 1.0 if not ln else 1.01 + 0.25 / math.log(ni) ** 2
                sds[i] = (hi - lo) / xi / math.sqrt(z1)
            elif sm == "hozo2005":
                if ni <= 15:
                    sds[i] = math.sqrt(((lo - 2 * me + hi) ** 2 / 4 + (hi - lo) ** 2) / 12)
                elif ni <= 70:
                    sds[i] = (hi - lo) / 4
                else:
                    sds[i] = (hi - lo) / 6
            elif sm == "walter2007":
                sds[i] = (hi - lo) / _expected_range(ni)
            if ln and transf:
                s4 = ((hi - lo) / xi) ** 4 / (1 + 2.23 / math.log(ni) ** 2)
                means[i], sds[i] = _lnorm_back(
                    means[i], sds[i], ni, s4, (0.565, 0.37), (2.26, 5.92, 1.48)
                )
        elif case == 2:
            if mm == "luo/wan/shi":
                w = 0.7 + 0.39 / ni
                means[i] = w * (a1 + a3) / 2 + (1 - w) * me
            elif mm == "wan2014":
                means[i] = (a1 + me + a3) / 3
            if sm in ("luo/wan/shi", "wan2014"):
                z2 = 1.0 if not ln else 1 + 1.58 / ni
                sds[i] = (a3 - a1) / eta / math.sqrt(z2)
            if ln and transf:
                s4 = ((a3 - a1) / eta) ** 4 / (1 + 19.2 / ni**1.2)
                means[i], sds[i] = _lnorm_back(
                    means[i], sds[i], ni, s4, (0.57, 0.75), (2.28, 12.0, 3.0)
                )
        else:
            if mm == "luo/wan/shi":
                w1 = 2.2 / (2.2 + ni**0.75)
                w2 = 0.7 - 0.72 / ni**0.55
                means[i] = w1 * (lo + hi) / 2 + w2 * (a1 + a3) / 2 + (1 - w1 - w2) * me
            elif mm in ("wan2014", "bland2015"):
                means[i] = (lo + 2 * a1 + 2 * me + 2 * a3 + hi) / 8
            w = 1 / (1 + 0.07 * ni**0.6)
            if sm == "luo/wan/shi":
                z3 = 1.0 if not ln else 1 + 0.28 / math.log(ni) ** 2
                sds[i] = (w * (hi - lo) / xi + (1 - w) * (a3 - a1) / eta) / math.sqrt(z3)
            elif sm == "wan2014":
                sds[i] = ((hi - lo) / xi + (a3 - a1) / eta) / 2
            elif sm == "bland2015":
                sds[i] = math.sqrt(
                    (lo**2 + 2 * a1**2 + 2 * me**2 + 2 * a3**2 + hi**2) / 16
                    + (lo * a1 + a1 * me + me * a3 + a3 * hi) / 8
                    - (lo + 2 * a1 + 2 * me + 2 * a3 + hi) ** 2 / 64
                )
            if ln and transf:
                s4 = (w * (hi - lo) / xi + (1 - w) * (a3 - a1) / eta) ** 4 / (1 + 3.93 / ni)
                means[i], sds[i] = _lnorm_back(
                    means[i], sds[i], ni, s4, (0.405, 0.315), (1.62, 5.04, 1.26)
                )
    return FivenumConversion(means, sds, tval, crit, tuple(sig), tuple(cases), meth, tuple(dists))


def _lnorm_back(mu, s, n, s4, mean_c, sd_c):
    """Bias-corrected back-transformation of a log-scale mean and SD (Shi et al. 2020b)."""
    phi = 1 + mean_c[0] * s**2 / n + mean_c[1] * s4 / n
    mean = math.exp(mu + s**2 / 2) / phi
    phi1 = 1 + sd_c[0] * s**2 / n + sd_c[1] * s4 / n
    phi2 = 1 + sd_c[0] * s**2 / n + sd_c[2] * s4 / n
    sd = math.sqrt(math.exp(2 * mu + 2 * s**2) / phi1 - math.exp(2 * mu + s**2) / phi2)
    return mean, sd


@dataclass(frozen=True)
class TwoByTwo:
    """Reconstructed cells per study (NaN where not possible)."""

    ai: np.ndarray
    bi: np.ndarray
    ci: np.ndarray
    di: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return strict_json({"ai": self.ai, "bi": self.bi, "ci": self.ci, "di": self.di})


def conv_2x2(
    ni: Any,
    n1i: Any,
    n2i: Any,
    *,
    ori: Any = None,
    ri: Any = None,
    x2i: Any = None,
    correct: bool = True,
) -> TwoByTwo:
    """Cell counts of 2x2 tables from summary statistics (metafor's ``conv.2x2``).

    ``ni``: total; ``n1i``: the first row's total (e.g. the treated arm); ``n2i``: the first
    column's total (e.g. everyone with the event: not the second arm, unlike ``escalc``).
    With an odds ratio ``ori`` (Bonett 2007), a phi coefficient ``ri``, or a signed
    chi-square statistic ``x2i`` (Yates-corrected when ``correct``), ``ai`` is
    ``round(ni * p11)`` and the other cells follow from the margins. A table whose statistic
    does not fit its margins (a negative cell) gets NaN and an EvidenceWarning.
    """
    n = _arr("ni", ni)
    k, a = _broadcast(
        ni=n,
        n1i=_arr("n1i", n1i, len(n)),
        n2i=_arr("n2i", n2i, len(n)),
        ori=_arr("ori", ori, len(n)),
        ri=_arr("ri", ri, len(n)),
        x2i=_arr("x2i", x2i, len(n)),
    )
    n, n1, n2 = a["ni"], a["n1i"], a["n2i"]
    orr, r, x2 = a["ori"], a["ri"].copy(), a["x2i"]
    if np.any(orr[~np.isnan(orr)] <= 0):
        raise EvidenceInputError("ori", ori, "odds ratios > 0")
    if np.any(np.abs(r[~np.isnan(r)]) > 1):
        raise EvidenceInputError("ri", ri, "phi coefficients in [-1, 1]")
    p1, p2 = n1 / n, n2 / n
    p11 = np.full(k, np.nan)
    for i in range(k):
        if np.isnan(n[i]) or np.isnan(n1[i]) or np.isnan(n2[i]):
            continue
        if not np.isnan(orr[i]):
            if orr[i] == 1:
                p11[i] = n1[i] * n2[i] / n[i] ** 2
            else:
                x = orr[i] * (p1[i] + p2[i]) + (1 - p1[i]) - p2[i]
                y = math.sqrt(x * x - 4 * p1[i] * p2[i] * orr[i] * (orr[i] - 1))
                p11[i] = (x - y) / (2 * (orr[i] - 1))
        if np.isnan(r[i]) and not np.isnan(x2[i]):
            r[i] = math.copysign(math.sqrt(abs(x2[i]) / n[i]), x2[i])
            if correct:
                r[i] += math.copysign(
                    n[i] / (2 * math.sqrt(n1[i] * (n[i] - n1[i]) * n2[i] * (n[i] - n2[i]))), x2[i]
                )
        if np.isnan(p11[i]) and not np.isnan(r[i]):
            p11[i] = p1[i] * p2[i] + r[i] * math.sqrt(p1[i] * (1 - p1[i]) * p2[i] * (1 - p2[i]))
    ai = np.round(n * p11)
    bi = n1 - ai
    ci = n2 - ai
    di = n - ai - bi - ci
    neg = (ai < 0) | (bi < 0) | (ci < 0) | (di < 0)
    if neg.any():
        warnings.warn(
            f"statistic does not fit the margins (a negative cell) at position(s) "
            f"{np.flatnonzero(neg).tolist()}; those tables are left empty",
            EvidenceWarning,
            stacklevel=2,
        )
        for arr in (ai, bi, ci, di):
            arr[neg] = np.nan
    return TwoByTwo(ai, bi, ci, di)


def events_from_risk(risk_percent: float, n: int, *, decimals: int = 0) -> tuple[int, ...]:
    """Every event count in an arm of ``n`` that rounds to the reported percentage (given to
    ``decimals`` places): one count when the report pins it down, several when it does not,
    none when the percentage cannot come from n people (an inconsistency to check)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise EvidenceInputError("n", n, "a whole number of people >= 1")
    if not (isinstance(risk_percent, int | float) and 0 <= risk_percent <= 100):
        raise EvidenceInputError("risk_percent", risk_percent, "a percentage from 0 to 100")
    half = 0.5 * 10.0**-decimals
    return tuple(e for e in range(n + 1) if abs(100 * e / n - risk_percent) <= half + 1e-9)


def conv_delta(
    yi: Any,
    vi: Any,
    transf: Callable[[float], float],
    *,
    deriv: Callable[[float], float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Transform estimates and their sampling variances by the delta method (metafor's
    ``conv.delta``): ``f(yi)`` and ``f'(yi)^2 vi``. ``deriv`` gives f' exactly; without it the
    derivative is a central difference, Richardson-extrapolated over four halvings of the
    step (as numDeriv's grad)."""
    y = _arr("yi", yi)
    k, a = _broadcast(yi=y, vi=_arr("vi", vi, len(y)))
    if np.any(a["vi"][~np.isnan(a["vi"])] < 0):
        raise EvidenceInputError("vi", vi, "sampling variances >= 0")
    if not callable(transf):
        raise EvidenceInputError("transf", transf, "a function of one number")

    def d(x: float) -> float:
        if deriv is not None:
            return float(deriv(x))
        h = 1e-4 * max(abs(x), 1.0) * 16
        table = []
        for _ in range(4):
            table.append((transf(x + h) - transf(x - h)) / (2 * h))
            h /= 2
        # Richardson: eliminate h^2, h^4, h^6 error terms
        for m in range(1, 4):
            table = [(4**m * table[j + 1] - table[j]) / (4**m - 1) for j in range(len(table) - 1)]
        return float(table[0])

    out_y, out_v = np.full(k, np.nan), np.full(k, np.nan)
    for i in range(k):
        if np.isnan(a["yi"][i]):
            continue
        try:
            out_y[i] = float(transf(float(a["yi"][i])))
            out_v[i] = d(float(a["yi"][i])) ** 2 * a["vi"][i]
        except (ValueError, OverflowError, ZeroDivisionError) as exc:
            raise EvidenceInputError("transf", transf, f"defined near yi[{i}] ({exc})") from None
    return out_y, out_v
