"""Plain-text reports that read like a paper's results table."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bias import RegTest, TrimFill
    from .heterogeneity import HeterogeneityCI
    from .predict import Prediction
    from .rma import RmaResult

DIGITS = 4


def fmt_p(p: float) -> str:
    """p-values to 4 decimals, tiny ones as '<0.0001'."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "NA"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def p_eq(p: float) -> str:
    """'p = 0.0123' or 'p < 0.0001'."""
    text = fmt_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def fmt(x: Any, digits: int = DIGITS) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return f"{x:.{digits}f}"


def stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""


def _table(header: list[str], rows: list[list[str]], first_left: bool = True) -> list[str]:
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
    out = []
    for r in [header, *rows]:
        cells = [
            c.ljust(widths[j]) if (j == 0 and first_left) else c.rjust(widths[j])
            for j, c in enumerate(r)
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def format_rma(res: RmaResult) -> str:
    from .tau2 import METHOD_NAMES

    kind = (
        "Fixed-effects model"
        if res.is_fixed
        else "Random-effects model"
        if res.int_only
        else "Mixed-effects meta-regression"
    )
    head = f"{kind} (k = {res.k}"
    if not res.is_fixed:
        head += f"; tau² estimator: {res.method}, {METHOD_NAMES[res.method]}"
        if res.iterations:
            head += f"; {res.algorithm}, {res.iterations} iterations"
    head += ")"
    test = {
        "z": "Wald z",
        "knha": f"Knapp-Hartung t({res.ddf})",
        "t": f"t({res.ddf})",
        "adhoc": f"Knapp-Hartung (ad hoc) t({res.ddf})",
    }[res.test]
    lines = [head, f"Inference: {test}; {fmt(res.level, 0)}% confidence intervals", ""]
    if not res.is_fixed:
        resid = "residual " if not res.int_only else ""
        rows = [
            [f"tau² ({resid}heterogeneity)", f"{fmt(res.tau2)} (SE = {fmt(res.se_tau2)})"],
            ["tau", fmt(res.tau)],
            [f"I² ({resid}heterogeneity / total variability)", f"{fmt(res.i2, 2)}%"],
            ["H² (total / sampling variability)", fmt(res.h2)],
        ]
        if res.r2 is not None:
            rows.append(["R² (heterogeneity accounted for)", f"{fmt(res.r2, 2)}%"])
        width = max(len(r[0]) for r in rows)
        lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    else:
        lines += [f"  I² = {fmt(res.i2, 2)}%   H² = {fmt(res.h2)}"]
    lines += ["", f"Heterogeneity: Q(df = {res.k - res.p}) = {fmt(res.qe)}, {p_eq(res.qep)}"]
    if not res.int_only:
        df = res.qm_df
        stat = f"F(df1 = {df[0]}, df2 = {df[1]})" if df[1] is not None else f"QM(df = {df[0]})"
        lines.append(f"Moderators:    {stat} = {fmt(res.qm)}, {p_eq(res.qmp)}")
    lines.append("")
    statname = "z" if res.ddf is None else "t"
    level = fmt(res.level, 0)
    header = ["", "estimate", "se", statname, "p", f"{level}% CI", ""]
    rows = []
    for name, b, s, z, p, lo, hi in zip(
        res.data.coef_names,
        res.beta,
        res.se_beta,
        res.zval_beta,
        res.pval_beta,
        res.ci_lb_beta,
        res.ci_ub_beta,
        strict=True,
    ):
        rows.append([name, fmt(b), fmt(s), fmt(z), fmt_p(p), f"[{fmt(lo)}, {fmt(hi)}]", stars(p)])
    lines += _table(header, rows)
    if res.data.measure:
        lines.append(f"\n  Effect measure: {res.data.measure} (analysis scale)")
    return "\n".join(lines)


def format_studies(res: RmaResult) -> str:
    """One row per study: effect, its Wald CI at the model's level, and its weight."""
    from scipy import stats

    crit = stats.norm.isf((1 - res.level / 100) / 2)
    lv = fmt(res.level, 0)
    rows = []
    for label, y, v, w in zip(res.data.slab, res.yi, res.vi, res.weights(), strict=True):
        se = v**0.5
        rows.append(
            [label, fmt(y), fmt(v), f"[{fmt(y - crit * se)}, {fmt(y + crit * se)}]", f"{w:.2f}%"]
        )
    return "\n".join(_table(["study", "yi", "vi", f"{lv}% CI", "weight"], rows))


def format_prediction(pr: Prediction) -> str:
    import numpy as np

    preds = np.atleast_1d(pr.pred)
    n = len(preds)

    def col(x: Any) -> list[str]:
        return ["NA"] * n if x is None else [fmt(v) for v in np.atleast_1d(x)]

    lv = fmt(pr.level, 0)
    header = ["", "pred", "se", f"{lv}% CI", f"{lv}% PI"]
    ses, lo, hi = col(pr.se), col(pr.ci_lb), col(pr.ci_ub)
    plo, phi = col(pr.pi_lb), col(pr.pi_ub)
    rows = [
        [
            str(i + 1) if n > 1 else "",
            fmt(preds[i]),
            ses[i],
            f"[{lo[i]}, {hi[i]}]",
            "—" if pr.pi_lb is None else f"[{plo[i]}, {phi[i]}]",
        ]
        for i in range(n)
    ]
    return "\n".join(_table(header, rows))


def format_heterogeneity_ci(ci: HeterogeneityCI) -> str:
    lv = fmt(ci.level, 0)
    rows = [
        [name, fmt(v[0]), fmt(v[1]), fmt(v[2])]
        for name, v in (("tau²", ci.tau2), ("tau", ci.tau), ("I² (%)", ci.i2), ("H²", ci.h2))
    ]
    return "\n".join(
        [f"Heterogeneity ({ci.method} {lv}% CI)", *_table(["", "estimate", "ci.lb", "ci.ub"], rows)]
    )


def format_regtest(rt: RegTest) -> str:
    kind = (
        "mixed-effects meta-regression"
        if rt.model == "rma"
        else "weighted regression with multiplicative dispersion"
    )
    stat = "z" if rt.df is None else f"t({rt.df})"
    return "\n".join(
        [
            f"Regression test for funnel plot asymmetry ({kind}; predictor: {rt.predictor})",
            f"  test for asymmetry: {stat} = {fmt(rt.zval)}, {p_eq(rt.pval)}",
            f"  limit estimate (as se -> 0): {fmt(rt.est)} [{fmt(rt.ci_lb)}, {fmt(rt.ci_ub)}]",
        ]
    )


def format_trimfill(tf: TrimFill) -> str:
    return "\n".join(
        [
            f"Trim-and-fill ({tf.estimator}): estimated {tf.k0} missing studies on the "
            f"{tf.side} side (SE = {fmt(tf.se_k0)})",
            "",
            str(tf.model),
        ]
    )
