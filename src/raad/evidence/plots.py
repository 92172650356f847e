"""Forest and funnel plots (matplotlib; save the returned Figure as SVG or PNG).

Forest plot layout after Lewis & Clarke (2001, BMJ 322:1479, doi:10.1136/bmj.322.7300.1479):
one row per study with its confidence interval and a marker sized by weight, the pooled
estimate as a diamond, the prediction interval (Riley et al. 2011) as a bar through it, and the
heterogeneity statistics in the caption. Funnel plot after Sterne & Egger (2001,
doi:10.1016/S0895-4356(01)00377-8): effects against standard errors with the pseudo-confidence
region around the pooled estimate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from .report import p_eq

if TYPE_CHECKING:
    from .bias import TrimFill
    from .rma import RmaResult

RATIO_MEASURES = {"RR", "OR", "IRR", "ROM", "HR"}


def _scale(res: RmaResult, exp: bool | None):
    use_exp = (res.data.measure in RATIO_MEASURES) if exp is None else exp
    return (np.exp, "log") if use_exp else ((lambda x: x), "linear")


def caption(res: RmaResult) -> str:
    """Model and heterogeneity summary used under plots."""
    df = res.k - res.p
    het = f"Q({df}) = {res.qe:.2f}, {p_eq(res.qep)}; I² = {res.i2:.1f}%"
    if res.is_fixed:
        return f"Fixed-effects model (k = {res.k}); {het}"
    return (
        f"Random-effects model ({res.method}, {'Knapp-Hartung' if res.test == 'knha' else res.test}"
        f"; k = {res.k}); τ² = {res.tau2:.4f}, {het}"
    )


def forest(
    res: RmaResult, *, exp: bool | None = None, xlabel: str | None = None, title: str | None = None
) -> Figure:
    """Forest plot of a fitted model. Ratio measures (log scale) are drawn exponentiated."""
    tr, xscale = _scale(res, exp)
    k = res.k
    crit = stats.norm.isf((1 - res.level / 100) / 2)
    y, se = res.yi, np.sqrt(res.vi)
    lo, hi = y - crit * se, y + crit * se
    w = res.weights()
    has_diamond = res.int_only
    n_rows = k + (3 if has_diamond else 1)
    fig = Figure(figsize=(9.5, 1.2 + 0.32 * n_rows), layout="constrained")
    ax = fig.add_subplot()
    rows = np.arange(k)[::-1] + (2 if has_diamond else 0)
    sizes = 30 + 220 * w / w.max()
    ax.hlines(rows, tr(lo), tr(hi), color="0.2", linewidth=1)
    ax.scatter(tr(y), rows, s=sizes, marker="s", color="#2b5d8a", zorder=3)
    labels = list(res.data.slab)
    texts = [
        f"{tr(a):6.2f} [{tr(b):6.2f}, {tr(c):6.2f}]  {pct:5.1f}%"
        for a, b, c, pct in zip(y, lo, hi, w, strict=True)
    ]
    if has_diamond:
        est, cl, cu = res.estimate, res.ci_lb, res.ci_ub
        ax.fill([tr(cl), tr(est), tr(cu), tr(est)], [0, 0.35, 0, -0.35], color="#a23b3b", zorder=3)
        pred = res.predict()
        label = "FE model" if res.is_fixed else "RE model"
        if pred.pi_lb is not None:
            ax.hlines(-0.75, tr(pred.pi_lb), tr(pred.pi_ub), color="#a23b3b", linewidth=2)
            ax.vlines([tr(pred.pi_lb), tr(pred.pi_ub)], -0.9, -0.6, color="#a23b3b", linewidth=2)
            labels_extra = [
                (0, label, f"{tr(est):6.2f} [{tr(cl):6.2f}, {tr(cu):6.2f}]  100.0%"),
                (
                    -0.75,
                    f"{res.level:.0f}% prediction interval",
                    f"       [{tr(pred.pi_lb):6.2f}, {tr(pred.pi_ub):6.2f}]",
                ),
            ]
        else:
            labels_extra = [(0, label, f"{tr(est):6.2f} [{tr(cl):6.2f}, {tr(cu):6.2f}]  100.0%")]
        ax.axvline(tr(est), color="#a23b3b", linestyle=":", linewidth=0.8)
    else:
        labels_extra = []
    ax.axvline(tr(0.0), color="0.5", linewidth=0.8)
    ax.set_xscale(xscale)
    ticks = [(r, lab, txt) for r, lab, txt in zip(rows, labels, texts, strict=True)] + labels_extra
    ax.set_yticks([t[0] for t in ticks], [t[1] for t in ticks])
    sec = ax.secondary_yaxis("right")
    sec.set_yticks([t[0] for t in ticks], [t[2] for t in ticks], family="monospace", fontsize=8)
    sec.tick_params(length=0)
    sec.spines["right"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-1.3 if has_diamond else -0.7, rows.max() + 0.8)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    measure = res.data.measure or "effect size"
    ax.set_xlabel(xlabel or (f"{measure} (log scale)" if xscale == "log" else measure))
    if title:
        ax.set_title(title, loc="left")
    fig.text(0.01, 0.005, caption(res), fontsize=8, ha="left", va="bottom")
    fig.get_layout_engine().set(h_pad=0.25)
    return fig


def funnel(
    model: RmaResult | TrimFill, *, exp: bool | None = None, xlabel: str | None = None
) -> Figure:
    """Funnel plot; given a trim-and-fill result, the filled studies are drawn as open circles."""
    filled_y = filled_v = None
    if hasattr(model, "filled_yi"):
        filled_y, filled_v = model.filled_yi, model.filled_vi
        res = model.model
        y, v = model.original.yi, model.original.vi
    else:
        res = model
        y, v = res.yi, res.vi
    tr, xscale = _scale(res, exp)
    crit = stats.norm.isf((1 - res.level / 100) / 2)
    est = float(res.beta[0]) if res.int_only else 0.0
    se = np.sqrt(v)
    se_all = se if filled_v is None else np.concatenate([se, np.sqrt(filled_v)])
    top = 1.05 * float(se_all.max())
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    ax = fig.add_subplot()
    grid = np.linspace(0, top, 50)
    ax.fill_betweenx(grid, tr(est - crit * grid), tr(est + crit * grid), color="0.93")
    ax.plot(tr(est - crit * grid), grid, color="0.6", linewidth=0.8, linestyle="--")
    ax.plot(tr(est + crit * grid), grid, color="0.6", linewidth=0.8, linestyle="--")
    ax.axvline(tr(est), color="#a23b3b", linewidth=1)
    ax.scatter(tr(y), se, color="#2b5d8a", zorder=3, label="studies")
    if filled_y is not None and len(filled_y):
        ax.scatter(
            tr(filled_y),
            np.sqrt(filled_v),
            facecolors="white",
            edgecolors="#2b5d8a",
            zorder=3,
            label=f"filled (trim and fill, k0 = {len(filled_y)})",
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.set_ylim(top, 0)
    ax.set_xscale(xscale)
    ax.set_ylabel("standard error")
    measure = res.data.measure or "effect size"
    ax.set_xlabel(xlabel or (f"{measure} (log scale)" if xscale == "log" else measure))
    fig.suptitle(caption(res), fontsize=8, x=0.01, ha="left")
    return fig


def sensitivity(rows, *, title: str | None = None) -> Figure:
    """Estimates and CIs of each sensitivity analysis (``pooling.sensitivity`` rows)."""
    shown = [r for r in rows if r.estimate is not None]
    fig = Figure(figsize=(8, 1.0 + 0.4 * max(len(shown), 1)), layout="constrained")
    ax = fig.add_subplot()
    ys = np.arange(len(shown))[::-1]
    for y, r in zip(ys, shown, strict=True):
        ax.hlines(y, r.ci_lb, r.ci_ub, color="0.2", linewidth=1)
        ax.plot(r.estimate, y, "s", color="#a23b3b" if r.analysis.startswith("main") else "#2b5d8a")
    ax.set_yticks(ys, [f"{r.analysis} (k={r.k})" for r in shown])
    ax.axvline(0, color="0.5", linewidth=0.8)
    ax.set_xlabel("pooled estimate with CI")
    if title:
        ax.set_title(title, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def baujat(res: RmaResult, *, title: str | None = None) -> Figure:
    """Baujat plot: each study's contribution to heterogeneity (x) against its influence on
    the pooled estimate (y), labelled (``influence.baujat`` gives the numbers)."""
    from .influence import baujat as diagnostics

    d = diagnostics(res)
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(d["x"], d["y"], color="#2b5d8a", zorder=3)
    for label, row in d.iterrows():
        ax.annotate(
            str(label), (row["x"], row["y"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.set_xlabel("contribution to overall heterogeneity (squared residual / (tau² + vi))")
    ax.set_ylabel("influence on the pooled estimate")
    ax.set_title(title or f"Baujat plot ({res.method}, k = {res.k})", fontsize=10)
    return fig
