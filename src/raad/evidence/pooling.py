"""Effect-size rows from a trial base (plain dicts), with every derivation recorded.

Mean differences are taken as reported (crossover trials report within-subject differences,
whose confidence intervals already reflect the pairing) or computed from arm means and SDs
(parallel trials; metafor's MD). A standard error missing from the report is derived from the
95% CI, ``(upper - lower) / (2 q)``, or, failing that, from a two-sided p-value, ``|MD| / q``
(Altman & Bland 2011, BMJ 343:d2090, doi:10.1136/bmj.d2090), where q is the t quantile with
n - 1 (crossover) or n - 2 (parallel) df for trials under 60 per group and the normal quantile
otherwise (Cochrane Handbook 6.5.2.3); such rows are flagged 'derived' and say which. Trials that cannot give a row are
listed as excluded with the reason; nothing is imputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .conversions import se_from_ci, se_from_p
from .errors import EvidenceInputError, strict_json

Z975 = float(stats.norm.isf(0.025))


@dataclass(frozen=True)
class Row:
    study: str
    yi: float
    vi: float
    design: str
    scale: str | None
    flag: str  # 'reported' or 'derived'
    derivation: str | None
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """As strict JSON values (a number that is not finite is None)."""
        return strict_json(self._plain())

    def _plain(self) -> dict[str, Any]:
        return dict(self.__dict__) | {"sources": list(self.sources)}


@dataclass(frozen=True)
class Excluded:
    study: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """As strict JSON values (a number that is not finite is None)."""
        return strict_json(self._plain())

    def _plain(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _agent_arms(t: dict[str, Any], agent: str, excluded: list[Excluded]) -> list[dict]:
    """The trial's arms of ``agent``; none: the trial is listed as excluded, saying why."""
    arms = [a for a in t["arms"] if a.get("agent") == agent]
    if not arms:
        excluded.append(Excluded(t["label"], f"no {agent} arm"))
    return arms


def md_rows(
    trials: list[dict[str, Any]], *, agent: str, fraction: float | None, outcome: str, time: str
) -> tuple[list[Row], list[Excluded]]:
    """Rows of ``agent`` (at ``fraction`` for N2O) vs control for ``outcome`` at ``time``."""
    rows: list[Row] = []
    excluded: list[Excluded] = []
    for t in trials:
        arms = _agent_arms(t, agent, excluded)
        if not arms:
            continue
        if fraction is not None:
            exact = [a for a in arms if a.get("n2o_fraction") == fraction]
            if not exact:
                mixed = [a for a in arms if fraction in (a.get("n2o_fraction_values") or ())]
                why = (
                    f"the {fraction:.0%} arm is combined with other doses in the reported result"
                    if mixed
                    else f"no {fraction:.0%} arm"
                )
                excluded.append(Excluded(t["label"], why))
                continue
            arms = exact
        arm_ids = {a["id"] for a in arms}
        controls = {a["id"] for a in t["arms"] if a.get("control")}
        row = _from_md(t, arm_ids, controls, outcome, time) or _from_means(
            t, arm_ids, controls, outcome, time
        )
        if isinstance(row, Row):
            rows.append(row)
        else:
            excluded.append(Excluded(t["label"], row or _why_not(t, outcome, time)))
    return rows, excluded


SMALL_PER_GROUP = 60  # Cochrane Handbook 6.5.2.3: "say less than 60 in each group"


def small_sample_df(t: dict[str, Any]) -> tuple[int | None, str]:
    """Degrees of freedom of the t quantile a small trial's CI or p-value came from
    (Cochrane Handbook 6.5.2.3): a crossover trial is one group of n (df n - 1), a parallel
    trial two groups (df n - 2); None (normal quantile) when the trial is large or its size
    is not recorded. Returns (df, the words for the derivation)."""
    n = t.get("n_randomized")
    if not n:
        return None, "normal quantile: the trial's size is not recorded"
    if t.get("design") == "crossover":
        if n < SMALL_PER_GROUP:
            return n - 1, f"t with {n - 1} df: a crossover of {n}, fewer than 60"
        return None, f"normal quantile: {n} in the crossover"
    if n / 2 < SMALL_PER_GROUP:
        return n - 2, f"t with {n - 2} df: {n} in two groups, fewer than 60 each"
    return None, f"normal quantile: {n} in two groups"


def _sources(*numbers: dict[str, Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n["cite"]["source"] for n in numbers))


def _from_md(t, arm_ids, controls, outcome, time) -> Row | str | None:
    for n in t["numbers"]:
        if (
            n["kind"] == "mean_difference"
            and n["outcome"] == outcome
            and n.get("time") == time
            and n["contrast"][0] in arm_ids
            and n["contrast"][1] in controls
        ):
            md = n["value"]
            df, basis = small_sample_df(t)
            if n.get("ci"):
                lo, hi = n["ci"]
                se = se_from_ci(lo, hi, df=df)
                q = (hi - lo) / (2 * se)
                how = (
                    f"SE from the 95% CI ({basis}): ({hi:g} - ({lo:g})) / (2 x {q:.6f}) = {se:.4f}"
                )
            elif n.get("p") is not None:
                se = se_from_p(md, n["p"], df=df)
                q = abs(md) / se
                how = (
                    f"SE from the two-sided p = {n['p']:g} ({basis}): |{md:g}| / {q:.4f} = {se:.4f}"
                )
            else:
                return f"{time} difference reported without a CI or exact p-value"
            kind = "within-subject (crossover)" if t["design"] == "crossover" else "between-group"
            return Row(
                t["label"],
                md,
                se**2,
                t["design"],
                t.get("scale"),
                "derived",
                f"{kind} mean difference as reported; {how}",
                (*_sources(n), "cochrane-handbook-6-5-2"),
            )
    return None


def _from_means(t, arm_ids, controls, outcome, time) -> Row | None:
    means = {
        n["arm"]: n
        for n in t["numbers"]
        if n["kind"] == "arm_mean" and n["outcome"] == outcome and n.get("time") == time
    }
    treat = [means[a] for a in arm_ids if a in means]
    ctrl = [means[c] for c in controls if c in means]
    if not treat or not ctrl:
        return None
    a, b = treat[0], ctrl[0]
    yi = a["mean"] - b["mean"]
    vi = a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"]
    how = (
        f"MD = {a['mean']:g} - {b['mean']:g}; variance = {a['sd']:g}^2/{a['n']} + "
        f"{b['sd']:g}^2/{b['n']} (metafor escalc MD)"
    )
    return Row(t["label"], yi, vi, t["design"], t.get("scale"), "derived", how, _sources(a, b))


def _why_not(t: dict[str, Any], outcome: str, time: str) -> str:
    kinds = {n["kind"] for n in t["numbers"] if n["outcome"] == outcome and n.get("time") == time}
    if "p_value" in kinds:
        return f"only a p-value at {time}; no effect estimate"
    times = sorted(
        {n.get("time") for n in t["numbers"] if n["outcome"] == outcome and n.get("time")}
    )
    if times:
        return f"no {outcome} result at {time} (reported at: {', '.join(times)})"
    return "no numbers found for this outcome"


def scales_differ(rows: list[Row]) -> bool:
    return len({r.scale for r in rows}) > 1


def as_arrays(rows: list[Row]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    return (np.array([r.yi for r in rows]), np.array([r.vi for r in rows]), [r.study for r in rows])


@dataclass(frozen=True)
class SensitivityRow:
    analysis: str
    k: int
    estimate: float | None
    ci_lb: float | None
    ci_ub: float | None
    tau2: float | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As strict JSON values (a number that is not finite is None)."""
        return strict_json(self._plain())

    def _plain(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sensitivity(
    rows: list[Row], populations: dict[str, str], *, method: str = "REML", test: str = "knha"
) -> list[SensitivityRow]:
    """The main analysis, other estimators, fixed effect, TRD-only and leave-one-out."""
    from .errors import EvidenceInputError
    from .rma import rma

    def fit(label: str, subset: list[Row], m: str, t: str) -> SensitivityRow:
        if len(subset) < (1 if m == "FE" and t == "z" else 2):
            return SensitivityRow(
                label,
                len(subset),
                None,
                None,
                None,
                None,
                f"{len(subset)} row(s): not enough to pool",
            )
        yi, vi, labels = as_arrays(subset)
        try:
            r = rma(yi, vi, method=m, test=t, slab=labels)
        except EvidenceInputError as exc:
            return SensitivityRow(label, len(subset), None, None, None, None, str(exc))
        return SensitivityRow(
            label,
            r.k,
            float(r.estimate),
            float(r.ci_lb),
            float(r.ci_ub),
            None if r.is_fixed else r.tau2,
        )

    out = [fit(f"main: {method}, {test}", rows, method, test)]
    for m, t in ((method, "z"), ("DL", test), ("PM", test), ("FE", "z")):
        if (m, t) != (method, test):
            out.append(fit(f"{m}, {t}", rows, m, t))
    trd = [r for r in rows if "treatment-resistant" in populations.get(r.study, "")]
    out.append(fit("treatment-resistant depression only", trd, method, test))
    for r in rows:
        out.append(fit(f"without {r.study}", [x for x in rows if x is not r], method, test))
    return out


CROSSOVER_NOTE = (
    "No row here needs an assumed within-subject correlation: each crossover trial reports its "
    "within-subject difference with its own CI or p-value. A 0.3-0.8 correlation sweep applies "
    "only to rows computed from crossover arm means, of which there are none in the trial base."
)


@dataclass(frozen=True)
class DoseRow:
    """One dose-versus-control contrast of a trial (a trial may give several)."""

    row: Row
    trial: str
    dose: str  # the arm's id, e.g. "n2o-25"


def dose_rows(
    trials: list[dict[str, Any]], *, agent: str, outcome: str, time: str
) -> tuple[list[DoseRow], list[Excluded]]:
    """Every dose of ``agent`` against its trial's control for ``outcome`` at ``time``: two
    doses compared with one placebo give two rows of one trial (to be pooled with a
    multilevel model whose sampling covariances reflect the shared control)."""
    out: list[DoseRow] = []
    excluded: list[Excluded] = []
    for t in trials:
        arms = _agent_arms(t, agent, excluded)
        if not arms:
            continue
        controls = {a["id"] for a in t["arms"] if a.get("control")}
        found = False
        for arm in arms:
            row = _from_md(t, {arm["id"]}, controls, outcome, time) or _from_means(
                t, {arm["id"]}, controls, outcome, time
            )
            if isinstance(row, Row):
                labelled = Row(
                    f"{t['label']} ({arm['id']})",
                    row.yi,
                    row.vi,
                    row.design,
                    row.scale,
                    row.flag,
                    row.derivation,
                    row.sources,
                )
                out.append(DoseRow(labelled, t["id"], arm["id"]))
                found = True
        if not found:
            excluded.append(Excluded(t["label"], _why_not(t, outcome, time)))
    return out, excluded


RHOS = (0.3, 0.5, 0.7)  # assumed correlations of two contrasts sharing a control (varied)


def multilevel(rows: list[DoseRow], *, method: str = "REML", rhos: tuple[float, ...] = RHOS):
    """Pool all dose contrasts with a two-level model (contrasts within trials, metafor's
    ``rma.mv(yi, V, random = ~ 1 | trial/esid)``), V from ``vcalc`` with each assumed
    correlation ``rho`` between contrasts of one trial (they share the control). Returns one
    (rho, MvResult) per rho; the spread across rho is the sensitivity to the assumption."""
    import pandas as pd

    from .mv import rma_mv, vcalc

    if len({r.trial for r in rows}) < 2:
        raise EvidenceInputError("rows", f"{len(rows)} contrasts", "contrasts from 2+ trials")
    frame = pd.DataFrame(
        {
            "yi": [r.row.yi for r in rows],
            "vi": [r.row.vi for r in rows],
            "trial": [r.trial for r in rows],
            "esid": [r.dose for r in rows],
        }
    )
    out = []
    for rho in rhos:
        V = vcalc(frame["vi"], frame["trial"], rho=rho, obs=frame["esid"])
        out.append((rho, rma_mv("yi", V, random="~ 1 | trial/esid", data=frame, method=method)))
    return out


@dataclass(frozen=True)
class HarmTable:
    """One trial's 2x2 table for an adverse event: ``ai`` of ``n1`` on the agent's arm,
    ``ci`` of ``n2`` on the control arm (patients, as reported)."""

    study: str
    dose: float | None
    event: str
    ai: int
    n1: int
    ci: int
    n2: int
    sources: tuple[str, ...]
    design: str = "parallel"


def harm_tables(
    trials: list[dict[str, Any]],
    agent: str,
    *,
    outcome: str | None = None,
    time: str | None = None,
) -> tuple[list[HarmTable], list[Excluded]]:
    """2x2 tables for Mantel-Haenszel pooling by dose: a trial gives a table for an outcome
    when both an ``agent`` arm and a control arm report that outcome's count (at ``time``,
    when given). Without ``outcome``: every adverse event (all counts but response and
    remission); with it (e.g. "response"), that outcome only. A count on one arm only is
    listed as excluded with the reason (nothing is imputed)."""
    tables: list[HarmTable] = []
    excluded: list[Excluded] = []
    skip = ("response", "remission")
    for t in trials:
        arms = {a["id"]: a for a in t["arms"]}
        counts = [
            n
            for n in t["numbers"]
            if n["kind"] == "count"
            and (n["outcome"] == outcome if outcome else n["outcome"] not in skip)
            and (time is None or n.get("time") == time)
        ]
        for n in counts:
            arm = arms.get(n["arm"], {})
            if arm.get("agent") != agent:
                continue
            control = [
                c
                for c in counts
                if c["outcome"] == n["outcome"] and arms.get(c["arm"], {}).get("control")
            ]
            if not control:
                excluded.append(
                    Excluded(
                        t["label"],
                        f"{n['outcome']}: {n['events']}/{n['n']} on {n['arm']}"
                        + (f" at {n['time']}" if n.get("time") else "")
                        + ", no control-arm count found",
                    )
                )
                continue
            c = control[0]
            tables.append(
                HarmTable(
                    t["label"],
                    arm.get("n2o_fraction"),
                    n["outcome"],
                    int(n["events"]),
                    int(n["n"]),
                    int(c["events"]),
                    int(c["n"]),
                    _sources(n, c),
                    t.get("design", "parallel"),
                )
            )
    return tables, excluded


def pool_harms(tables: list[HarmTable]) -> list[dict[str, Any]]:
    """Mantel-Haenszel risk ratios (metafor's rma.mh, measure RR) per (dose, event), with the
    number of trials behind each; a group whose tables have no events at all is reported
    with the reason instead of an estimate."""
    from .mh import rma_mh

    groups: dict[tuple[float | None, str], list[HarmTable]] = {}
    for tb in tables:
        groups.setdefault((tb.dose, tb.event), []).append(tb)
    out = []
    for (dose, event), tbs in sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1])):
        row: dict[str, Any] = {
            "dose": dose,
            "event": event,
            "k_trials": len(tbs),
            "trials": [tb.study for tb in tbs],
        }
        try:
            res = rma_mh(
                [tb.ai for tb in tbs],
                [tb.n1 - tb.ai for tb in tbs],
                [tb.ci for tb in tbs],
                [tb.n2 - tb.ci for tb in tbs],
                measure="RR",
            )
        except EvidenceInputError as exc:
            row["estimate"] = None
            row["reason"] = str(exc)
        else:
            lo, hi = res.ci
            row.update(
                estimate=float(np.exp(res.beta)),
                ci_lb=float(np.exp(lo)),
                ci_ub=float(np.exp(hi)),
                method="Mantel-Haenszel RR",
            )
        out.append(strict_json(row))
    return out
