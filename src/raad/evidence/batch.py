"""Many independent random-effects meta-analyses in one vectorised call.

``rma_batch`` fits the intercept-only model of ``rma`` to every group at once: all sums are
per-group segment sums (``numpy.bincount``) over the flat data, and the iterative estimators
(REML, ML, EB by Fisher scoring; PM by Newton's method on the generalised Q) iterate all
groups together, each group stopping at its own convergence. For an intercept-only model the
P-matrix quantities have closed forms; with ``P = W - w w'/sum(w)``:
``sum_ij P_ij^2 a_i b_j = sum w^2 a b - 2 sum w^3 a b / sum w + (sum w^2 a)(sum w^2 b)/(sum w)^2``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .errors import (
    ConvergenceError,
    EvidenceInputError,
    EvidenceWarning,
    as_float_array,
    same_length,
)
from .inputs import column, normalise_level, normalise_test
from .tau2 import Control, normalise_method, solve_score

COLUMNS = (
    "k",
    "estimate",
    "se",
    "zval",
    "pval",
    "ci_lb",
    "ci_ub",
    "pi_lb",
    "pi_ub",
    "tau2",
    "se_tau2",
    "i2",
    "h2",
    "qe",
    "qep",
    "iterations",
)


@dataclass(frozen=True)
class _Groups:
    idx: np.ndarray  # group index of each row
    n: int
    k: np.ndarray  # studies per group (float)

    def sum(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.idx, weights=x, minlength=self.n)

    def spread(self, g: np.ndarray) -> np.ndarray:
        return g[self.idx]


def rma_batch(
    yi: Any,
    vi: Any,
    group: Any,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    data: pd.DataFrame | None = None,
    control: Control | dict[str, Any] | None = None,
    na_action: str = "omit",
) -> pd.DataFrame:
    """Fit one model without moderators per ``group``; one row per group (sorted by group).

    Gives the same numbers as ``rma(yi[g], vi[g], method=..., test=...)`` for every group g.
    The run never stops at one group: a study with a missing yi or vi is left out of its
    group (``na_action="omit"``, counted in ``k_omitted``; "fail" refuses the whole input), and
    a group that cannot be fitted (too few studies, an estimator that does not converge) gets
    its reason in the ``status`` column and NaN numbers; fitted groups have status "ok".
    """
    m = normalise_method(method)
    t = normalise_test(test)
    lv = normalise_level(level)
    ctl = Control.coerce(control)
    if na_action not in ("omit", "fail"):
        raise EvidenceInputError("na_action", na_action, "one of omit, fail")
    y = as_float_array("yi", column(data, "yi", yi), allow_nan=True)
    v = as_float_array("vi", column(data, "vi", vi), allow_nan=True)
    g_raw = np.asarray(column(data, "group", group))
    if g_raw.ndim != 1:
        raise EvidenceInputError(
            "group", f"array of shape {g_raw.shape}", "a 1-D sequence of labels"
        )
    same_length(yi=y, vi=v, group=g_raw)
    if len(y) == 0:
        raise EvidenceInputError("yi", [], "at least one study")
    for name, arr in (("yi", y), ("vi", v)):
        if np.isinf(arr).any():
            bad = np.flatnonzero(np.isinf(arr)).tolist()[:10]
            raise EvidenceInputError(name, f"infinite value at position(s) {bad}", "finite numbers")
    if np.any(v <= 0):
        bad = np.flatnonzero(v <= 0).tolist()[:10]
        raise EvidenceInputError("vi", f"non-positive value(s) at position(s) {bad}", "values > 0")
    present = ~np.isnan(y) & ~np.isnan(v)
    if na_action == "fail" and not present.all():
        bad = np.flatnonzero(~present).tolist()[:10]
        raise EvidenceInputError(
            "yi" if np.isnan(y).any() else "vi",
            f"missing value(s) at position(s) {bad}",
            "complete values (or na_action='omit' to leave those studies out)",
        )
    try:
        labels, idx_all = np.unique(g_raw, return_inverse=True)
    except TypeError:
        raise EvidenceInputError("group", "labels of mixed types", "labels of one type") from None
    n = len(labels)
    k_all = np.bincount(idx_all, minlength=n)
    k_used = np.bincount(idx_all[present], minlength=n)
    need = 1 if (m == "FE" and t == "z") else 2
    status = np.array(["ok"] * n, dtype=object)
    small = k_used < need
    status[small] = [
        f"too few studies: k={int(k)} (at least {need} for method={m!r}, test={t!r})"
        for k in k_used[small]
    ]
    fit_groups = ~small
    cols = {c: np.full(n, np.nan) for c in COLUMNS}
    cols["k"] = k_used.astype(float)
    cols["iterations"] = np.zeros(n)
    if fit_groups.any():
        rows = present & fit_groups[idx_all]
        new_index = np.cumsum(fit_groups) - 1
        G = _Groups(
            idx=new_index[idx_all[rows]],
            n=int(fit_groups.sum()),
            k=k_used[fit_groups].astype(float),
        )
        fitted, failed = _fit(m, t, lv, ctl, y[rows], v[rows], G)
        where = np.flatnonzero(fit_groups)
        for c, values in fitted.items():
            cols[c][where] = values
        for gi, why in failed.items():
            status[where[gi]] = why
            for c in COLUMNS:
                if c != "k":
                    cols[c][where[gi]] = np.nan
    out = pd.DataFrame(
        {
            **{c: cols[c] for c in COLUMNS},
            "k_omitted": (k_all - k_used).astype(int),
            "status": status,
        },
        index=pd.Index(labels, name="group"),
    )
    out["k"] = out["k"].astype(int)
    out.attrs.update(method=m, test=t, level=lv)
    if (status != "ok").any():
        warnings.warn(
            f"{int((status != 'ok').sum())} of {n} group(s) not fitted; see the status column",
            EvidenceWarning,
            stacklevel=2,
        )
    return out


def _fit(m, t, lv, ctl, y, v, G: _Groups) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """The numbers of every group of ``G`` (each with enough studies) and the groups whose
    estimator failed, with the reason."""
    tau2, se_tau2, iters, failed = _estimate_tau2(m, y, v, G, ctl)
    tau2 = np.where(np.isnan(tau2), 0.0, tau2)  # failed groups: any value, blanked after
    k = G.k
    w = 1.0 / (v + G.spread(tau2))
    sw = G.sum(w)
    mu = G.sum(w * y) / sw
    se = np.sqrt(1.0 / sw)
    alpha = 1 - lv / 100
    if t == "z":
        crit = np.full(G.n, stats.norm.isf(alpha / 2))
    else:
        if t in ("knha", "adhoc"):
            rss = G.sum(w * (y - G.spread(mu)) ** 2)
            s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - 1))
            if t == "adhoc":
                s2w = np.maximum(1.0, s2w)
            se = se * np.sqrt(s2w)
        crit = stats.t.isf(alpha / 2, k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = mu / se
    pval = 2 * stats.norm.sf(np.abs(zval)) if t == "z" else 2 * stats.t.sf(np.abs(zval), k - 1)

    wf = 1.0 / v
    swf = G.sum(wf)
    mu_fe = G.sum(wf * y) / swf
    qe = np.maximum(0.0, G.sum(wf * (y - G.spread(mu_fe)) ** 2))
    qep = np.where(k > 1, stats.chi2.sf(qe, np.maximum(k - 1, 1)), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        vt = (k - 1) / (swf - G.sum(wf**2) / swf)
        if m == "FE":
            i2 = np.where(qe > 0, np.maximum(0.0, 100 * (qe - (k - 1)) / qe), 0.0)
            h2 = qe / (k - 1)
        else:
            i2 = 100 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1
    if m == "FE":
        pi_lb = pi_ub = np.full(G.n, np.nan)
    else:
        half = crit * np.sqrt(se**2 + tau2)
        pi_lb, pi_ub = mu - half, mu + half
    return {
        "estimate": mu,
        "se": se,
        "zval": zval,
        "pval": pval,
        "ci_lb": mu - crit * se,
        "ci_ub": mu + crit * se,
        "pi_lb": pi_lb,
        "pi_ub": pi_ub,
        "tau2": tau2,
        "se_tau2": se_tau2,
        "i2": np.where(k > 1, i2, 0.0),
        "h2": np.where(k > 1, h2, 1.0),
        "qe": np.where(k > 1, qe, 0.0),
        "qep": qep,
        "iterations": iters.astype(float),
    }, failed


def _pp(G: _Groups, w: np.ndarray, a: np.ndarray, b: np.ndarray, sw: np.ndarray) -> np.ndarray:
    """Per group ``sum_ij P_ij^2 a_i b_j`` for ``P = W - w w'/sum(w)``."""
    return (
        G.sum(w**2 * a * b)
        - 2 * G.sum(w**3 * a * b) / sw
        + G.sum(w**2 * a) * G.sum(w**2 * b) / sw**2
    )


def _q_parts(G: _Groups, y: np.ndarray, v: np.ndarray, tau2: np.ndarray):
    w = 1.0 / (v + G.spread(tau2))
    sw = G.sum(w)
    r = y - G.spread(G.sum(w * y) / sw)
    return w, sw, r


def _estimate_tau2(m: str, y: np.ndarray, v: np.ndarray, G: _Groups, ctl: Control):
    k = G.k
    zeros = np.zeros(G.n)
    one = np.ones_like(v)
    iters = np.zeros(G.n, dtype=int)
    none: dict[int, str] = {}
    if m == "FE":
        return zeros, np.full(G.n, np.nan), iters, none
    # HE (also the start of Fisher scoring)
    ybar = G.sum(y) / k
    rss_u = G.sum((y - G.spread(ybar)) ** 2)
    sv, sv2 = G.sum(v), G.sum(v**2)
    he = (rss_u - (1 - 1 / k) * sv) / (k - 1)
    if m == "HE":
        tau2 = np.maximum(0.0, he)
        trpv = (1 - 1 / k) * sv
        tr_pvpv = (1 - 2 / k) * sv2 + sv**2 / k**2
        se = np.sqrt((2 * tr_pvpv + 4 * tau2 * trpv + 2 * tau2**2 * (k - 1)) / (k - 1) ** 2)
        return tau2, se, iters, none
    if m in ("DL", "HS"):
        w, sw, r = _q_parts(G, y, v, zeros)
        q = G.sum(w * r**2)
        trp = sw - G.sum(w**2) / sw
        ppsum = _pp(G, w, one, one, sw)
        if m == "DL":
            tau2 = np.maximum(0.0, (q - (k - 1)) / trp)
            se = np.sqrt((2 * (k - 1) + 4 * tau2 * trp + 2 * tau2**2 * ppsum) / trp**2)
        else:
            tau2 = np.maximum(0.0, (q - k) / sw)
            se = np.sqrt((2 * (k - 1) + 4 * tau2 * trp + 2 * tau2**2 * ppsum) / sw**2)
        return tau2, se, iters, none
    if m == "SJ":
        t0 = rss_u / k if ctl.tau2_init is None else np.full(G.n, float(ctl.tau2_init))
        w, sw, r = _q_parts(G, y, v, t0)
        tau2 = np.maximum(0.0, t0 * G.sum(w * r**2) / (k - 1))
        se = np.sqrt(
            t0**2
            / (k - 1) ** 2
            * (
                2 * _pp(G, w, v, v, sw)
                + 4 * tau2 * _pp(G, w, one, v, sw)
                + 2 * tau2**2 * _pp(G, w, one, one, sw)
            )
        )
        return tau2, se, iters, none
    if m == "PM":
        tau2, iters, failed = _pm_newton(y, v, G, ctl)
    else:
        tau2, iters, failed = _fisher_scoring(m, y, v, G, ctl, he)
    w, sw, _ = _q_parts(G, y, v, tau2)
    if m == "ML":
        se = np.sqrt(2 / G.sum(w**2))
    elif m == "REML":
        se = np.sqrt(2 / _pp(G, w, one, one, sw))
    else:  # EB, PM
        se = np.sqrt(2 * k**2 / (k - 1)) / sw
    return tau2, se, iters, failed


def _padded(y: np.ndarray, v: np.ndarray, G: _Groups) -> tuple[np.ndarray, np.ndarray]:
    """The studies as (groups x max k) arrays: y padded with 0, v with +inf (weight 0), so
    a row sum over a group equals the group's sum."""
    order = np.argsort(G.idx, kind="stable")
    gi = G.idx[order]
    counts = np.bincount(G.idx, minlength=G.n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(gi)) - starts[gi]
    width = int(counts.max())
    Y = np.zeros((G.n, width))
    V = np.full((G.n, width), np.inf)
    Y[gi, pos] = y[order]
    V[gi, pos] = v[order]
    return Y, V


def _score_padded(m: str, Y: np.ndarray, V: np.ndarray, k: np.ndarray, T: np.ndarray):
    """The ML/REML/EB estimating equation (as ``tau2._score_parts`` without moderators) for
    each group at tau2 = T (shape (n,) or (n, q)); Y, V padded as ``_padded``. A grid is
    evaluated a few columns at a time, so the temporaries stay small (cache-sized)."""
    if T.ndim == 2 and T.shape[1] > 8:
        return np.concatenate(
            [_score_padded(m, Y, V, k, T[:, j : j + 8]) for j in range(0, T.shape[1], 8)], axis=1
        )
    extra = T.ndim - 1
    Yb = Y.reshape(Y.shape[:1] + (1,) * extra + Y.shape[1:])
    W = 1.0 / (V.reshape(Yb.shape) + T[..., None])
    sw = W.sum(-1)
    R = Yb - ((W * Yb).sum(-1) / sw)[..., None]
    W2R2 = W * W * R * R
    kk = k.reshape(k.shape + (1,) * extra)
    if m == "ML":
        return W2R2.sum(-1) - sw
    if m == "REML":
        return W2R2.sum(-1) - (sw - (W * W).sum(-1) / sw)
    return (W * R * R).sum(-1) * kk / (kk - 1) - kk  # EB


def _solve_score_batch(m: str, Y, V, k, ctl: Control) -> tuple[np.ndarray, np.ndarray]:
    """``tau2.solve_score`` for many groups at once (models without moderators): the same
    log-spaced grid from 0 to an upper bound where the equation is negative, the root in the
    bracket where it changes sign from + to - found by regula falsi (Illinois) to ``ctl.tol``;
    groups with
    more than one sign change (several roots) are returned as undecided (the scalar
    ``solve_score`` then picks the root with the highest likelihood)."""
    n = len(k)
    upper = np.full(n, max(ctl.tau2_max, 1.0))
    bad = np.zeros(n, dtype=bool)
    pos = _score_padded(m, Y, V, k, upper) > 0
    while pos.any():
        upper[pos] *= 10.0
        bad |= upper > 1e12
        pos &= ~bad
        if pos.any():
            pos[pos] = _score_padded(m, Y[pos], V[pos], k[pos], upper[pos]) > 0
    finite_v = np.where(np.isfinite(V), V, 0.0)
    mean_v = finite_v.sum(1) / k
    lo_end = np.log10(1e-8 * mean_v)
    hi_end = np.log10(upper)
    frac = np.linspace(0.0, 1.0, 240)
    grid = np.concatenate(
        [np.zeros((n, 1)), 10.0 ** (lo_end[:, None] + (hi_end - lo_end)[:, None] * frac)], axis=1
    )
    vals = _score_padded(m, Y, V, k, grid)
    change = (vals[:, :-1] > 0) & (vals[:, 1:] <= 0)
    n_roots = change.sum(1) + (vals[:, 0] <= 0)
    tau2 = np.zeros(n)
    single = (n_roots == 1) & ~bad
    interior = single & (vals[:, 0] > 0)
    if interior.any():
        i = np.argmax(change[interior], axis=1)
        rows = np.flatnonzero(interior)
        a, b = grid[rows, i], grid[rows, i + 1]
        Ys, Vs, ks = Y[rows], V[rows], k[rows]
        fa, fb = vals[rows, i], vals[rows, i + 1]
        x = a.copy()
        side = np.zeros(len(rows))
        for _ in range(500):
            # Illinois regula falsi (the bracket [a, b] shrinks around the root; an end that
            # stays twice has its value halved), switching to bisection where it stalls
            x = np.where(fa != fb, (a * fb - b * fa) / (fb - fa), (a + b) / 2)
            x = np.where((x <= a) | (x >= b), (a + b) / 2, x)
            fx = _score_padded(m, Ys, Vs, ks, x)
            pos = fx > 0
            a, fa, fb = (
                np.where(pos, x, a),
                np.where(pos, fx, fa),
                np.where(pos & (side == 1), fb / 2, fb),
            )
            neg = ~pos
            b, fb, fa = (
                np.where(neg, x, b),
                np.where(neg, fx, fb),
                np.where(neg & (side == -1), fa / 2, fa),
            )
            side = np.where(pos, 1, -1)
            if np.all((b - a <= ctl.tol) | (fx == 0)):
                break
        tau2[rows] = x
    undecided = ~single | bad
    return tau2, undecided


def _solve_groups(m, y, v, G: _Groups, ids: np.ndarray, ctl: Control, failed: dict) -> np.ndarray:
    """The estimating equation of groups ``ids`` (sorted) solved directly: together where
    each has one root, one by one (``tau2.solve_score``, the highest-likelihood root) where
    there are several; failures are added to ``failed``."""
    sub = np.zeros(G.n, dtype=bool)
    sub[ids] = True
    rows = sub[G.idx]
    Gs = _Groups(idx=(np.cumsum(sub) - 1)[G.idx[rows]], n=len(ids), k=G.k[ids])
    Y, V = _padded(y[rows], v[rows], Gs)
    roots, undecided = _solve_score_batch(m, Y, V, G.k[ids], ctl)
    for j in np.flatnonzero(undecided):
        gi = int(ids[j])
        one = G.idx == gi
        try:
            roots[j] = solve_score(m, y[one], v[one], np.ones((int(one.sum()), 1)), ctl)
        except ConvergenceError as exc:
            failed[gi] = f"did not converge: {exc}"
    return roots


def _fisher_scoring(m: str, y, v, G: _Groups, ctl: Control, he: np.ndarray):
    """Fisher scoring for all groups at once (with ``ctl.newton``, Newton's method: the
    observed information where it is positive, which reaches the same root in about a third
    of the iterations; iteration counts then differ from metafor's); each iteration touches
    only the groups that have not converged yet. Groups where scoring cycles (still moving after ``maxiter``
    iterations, where metafor would stop with an error) have their estimating equation
    solved instead (``_solve_score_batch``), with control fallback."""
    tau2 = np.maximum(0.0, he) if ctl.tau2_init is None else np.full(G.n, float(ctl.tau2_init))
    iters = np.zeros(G.n, dtype=int)
    ids = np.arange(G.n)  # original group index of each working group
    t = tau2.copy()
    # the working set's studies contiguous by group; per-group sums by np.add.reduceat
    order = np.argsort(G.idx, kind="stable")
    ys, vs = y[order], v[order]
    counts = np.bincount(G.idx, minlength=G.n)
    for _ in range(ctl.maxiter):
        if len(ids) == 0:
            break
        iters[ids] += 1
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        w = 1.0 / (vs + np.repeat(t, counts))
        sw = np.add.reduceat(w, starts)
        r = ys - np.repeat(np.add.reduceat(w * ys, starts) / sw, counts)
        wr2 = w * r * r
        if m == "EB":
            ks = counts.astype(float)
            adj = (np.add.reduceat(wr2, starts) * ks / (ks - 1) - ks) / sw
        else:
            w2r2 = w * wr2
            py2 = np.add.reduceat(w2r2, starts)  # y'PPy
            w2 = w * w
            sw2 = np.add.reduceat(w2, starts)
            if m == "ML":
                info = sw2
                score = py2 - sw
            else:  # REML
                trp = sw - sw2 / sw
                info = sw2 - 2 * np.add.reduceat(w2 * w, starts) / sw + sw2**2 / sw**2
                score = py2 - trp
            if ctl.newton:
                # observed information, 2 y'PPPy - (tr PP for REML, sum w^2 for ML), where
                # it is positive (the likelihood concave there); else the expected one
                pppy = np.add.reduceat(w * w2r2, starts) - np.add.reduceat(w2 * r, starts) ** 2 / sw
                obs = 2 * pppy - info
                info = np.where(obs > 0, obs, info)
            adj = score / info
        adj = adj * ctl.step_adj
        adj = _halve_until_nonnegative(t, adj)
        new = t + adj
        still = np.abs(new - t) > ctl.threshold
        tau2[ids] = new
        if still.all():
            t = new
            continue
        keep = np.repeat(still, counts)
        ys, vs = ys[keep], vs[keep]
        ids, t, counts = ids[still], new[still], counts[still]
    failed: dict[int, str] = {}
    if len(ids):
        if not ctl.fallback:
            for gi in ids:
                failed[int(gi)] = (
                    f"did not converge: Fisher scoring for {m} after {ctl.maxiter} iterations"
                )
        else:
            tau2[ids] = _solve_groups(m, y, v, G, ids, ctl, failed)
    if m in ("ML", "REML") and ctl.ll0check:
        reml = m == "REML"
        ll0 = _loglik(y, v, G, np.zeros(G.n), reml)
        worse = (ll0 - _loglik(y, v, G, tau2, reml) > ctl.tol) & (tau2 > ctl.threshold)
        if ctl.newton and worse.any():
            # Newton's method stopped at a local maximum below the likelihood at 0: those
            # groups' estimating equations are solved over the whole range instead, keeping
            # the root (or 0) with the highest likelihood, as when scoring cycles
            where = np.flatnonzero(worse)
            tau2[where] = _solve_groups(m, y, v, G, where, ctl, failed)
            worse = (ll0 - _loglik(y, v, G, tau2, reml) > ctl.tol) & (tau2 > ctl.threshold)
        # an iterate a hair above 0 (the boundary approached by step halving) is 0; a real
        # interior root below the likelihood at 0 is a local maximum and is said so
        mean_v = G.sum(v) / G.k
        boundary = worse & (tau2 < 1e-8 * mean_v)
        local = worse & ~boundary
        if local.any():
            warnings.warn(
                f"method={m!r}: {int(local.sum())} group(s) stopped at a local maximum; "
                "tau2 set to 0 there",
                RuntimeWarning,
                stacklevel=3,
            )
        tau2 = np.where(worse, 0.0, tau2)
    return tau2, iters, failed


def _halve_until_nonnegative(t: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """``adj`` halved as often as needed for ``t + adj >= 0`` (metafor's step halving), in
    one step: the fewest halvings n with ``t + adj / 2^n >= 0`` (exact scaling by powers of
    two, so the result equals repeated halving; at t = 0 a negative step vanishes, as
    repeated halving ends at -0.0). The loop over halvings took ~1,000 passes per iteration
    for groups at tau² = 0."""
    neg = t + adj < 0
    if not neg.any():
        return adj
    a, tt = adj[neg], t[neg]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n = np.where(tt > 0, np.ceil(np.log2(-a / tt)), 1075.0)
    n = np.clip(np.nan_to_num(n, nan=1075.0), 0, 1075).astype(int)
    b = np.ldexp(a, -n)
    # guard against rounding in log2: step to the fewest halvings that satisfy the condition
    more = tt + b < 0
    while more.any():
        n[more] += 1
        b = np.ldexp(a, -n)
        more = tt + b < 0
    fewer = (n > 0) & (tt + np.ldexp(a, -(n - 1)) >= 0)
    while fewer.any():
        n[fewer] -= 1
        b = np.ldexp(a, -n)
        fewer = (n > 0) & (tt + np.ldexp(a, -(n - 1)) >= 0)
    out = adj.copy()
    out[neg] = b
    return out


def _loglik(y, v, G: _Groups, tau2: np.ndarray, reml: bool) -> np.ndarray:
    k = G.k
    w, sw, r = _q_parts(G, y, v, tau2)
    ll = -0.5 * G.sum(np.log(v + G.spread(tau2))) - 0.5 * G.sum(w * r**2)
    if reml:
        return ll - 0.5 * (k - 1) * math.log(2 * math.pi) + 0.5 * np.log(k) - 0.5 * np.log(sw)
    return ll - 0.5 * k * math.log(2 * math.pi)


def _pm_newton(y, v, G: _Groups, ctl: Control):
    """Paule-Mandel root of ``Q(tau2) = k - 1`` for every group by Newton's method.

    Q is decreasing and convex in tau2, so Newton's iterates from 0 rise monotonically to the
    root (DerSimonian & Kacker 2007, doi:10.1016/j.cct.2006.04.004).
    """
    k = G.k
    tau2 = np.zeros(G.n)
    w, _, r = _q_parts(G, y, v, tau2)
    active = G.sum(w * r**2) > k - 1
    iters = np.zeros(G.n, dtype=int)
    for _ in range(ctl.maxiter):
        if not active.any():
            break
        iters += active
        w, _sw, r = _q_parts(G, y, v, tau2)
        q = G.sum(w * r**2)
        dq = G.sum(w**2 * r**2)
        step = np.where(active, (q - (k - 1)) / dq, 0.0)
        tau2 = tau2 + step
        active &= np.abs(step) > ctl.tol * np.maximum(1.0, tau2)
    failed = {
        int(gi): f"did not converge: Newton's method for PM after {ctl.maxiter} iterations"
        for gi in np.flatnonzero(active)
    }
    return tau2, iters, failed
