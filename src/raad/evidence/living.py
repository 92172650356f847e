"""Living evidence: the pooled answers of a trial base, what moved between two versions of it,
and the cumulative meta-analysis by publication year. Pure functions of trial-base data (plain
dicts, as ``pooling``); storing versions and telling clinicians is ``raad.services.living``.

The answers: for each agent, outcome "depression" (mean difference vs control, random effects
REML with Knapp-Hartung, from ``pooling.md_rows``) at every time point a trial reports, all
doses together and each dose; and response and remission (Mantel-Haenszel risk ratio from
``pooling.harm_tables``) by dose and time point. An answer needs two or more trials for the
mean difference and one or more for the risk ratio; each records k, the estimate, its 95% CI
and whether the CI excludes no effect (0 for a difference, 1 for a ratio).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from .errors import EvidenceInputError
from .pooling import as_arrays, harm_tables, md_rows, pool_harms
from .rma import rma
from .sequential import cumul


def trial_base_version(trials: list[dict[str, Any]]) -> str:
    """A digest of the trial base's content (16 hex characters)."""
    text = json.dumps(trials, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _agents(trials: list[dict[str, Any]]) -> list[str]:
    return sorted({a["agent"] for t in trials for a in t["arms"] if a.get("agent")})


def _times(trials: list[dict[str, Any]], kind: str, outcome: str | None = None) -> list[str]:
    return sorted(
        {
            n["time"]
            for t in trials
            for n in t["numbers"]
            if n["kind"] == kind and n.get("time") and (outcome is None or n["outcome"] == outcome)
        }
    )


def _doses(trials: list[dict[str, Any]], agent: str) -> list[float]:
    return sorted(
        {
            a["n2o_fraction"]
            for t in trials
            for a in t["arms"]
            if a.get("agent") == agent and a.get("n2o_fraction") is not None
        }
    )


def pooled_answers(trials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pooled answer of the trial base, keyed "agent/outcome/time/dose" (dose "all" or
    a percentage)."""
    out: dict[str, dict[str, Any]] = {}
    for agent in _agents(trials):
        for time in _times(trials, "mean_difference", "depression") + _times(
            trials, "arm_mean", "depression"
        ):
            for fraction in (None, *_doses(trials, agent)):
                rows, _ = md_rows(
                    trials, agent=agent, fraction=fraction, outcome="depression", time=time
                )
                if len(rows) < 2:
                    continue
                yi, vi, labels = as_arrays(rows)
                try:
                    res = rma(yi, vi, method="REML", test="knha", slab=labels)
                except EvidenceInputError:
                    continue
                key = f"{agent}/depression/{time}/{_dose_key(fraction)}"
                out[key] = {
                    "measure": "MD",
                    "k": len(rows),
                    "estimate": float(res.estimate),
                    "ci_lb": float(res.ci_lb),
                    "ci_ub": float(res.ci_ub),
                    "excludes_null": bool(res.ci_ub < 0 or res.ci_lb > 0),
                    "trials": sorted(labels),
                }
        for outcome in ("response", "remission"):
            for time in _times(trials, "count", outcome):
                tables, _ = harm_tables(trials, agent, outcome=outcome, time=time)
                for r in pool_harms(tables):
                    if r.get("estimate") is None:
                        continue
                    dose = "mixed" if r["dose"] is None else _dose_key(r["dose"])
                    key = f"{agent}/{outcome}/{time}/{dose}"
                    out[key] = {
                        "measure": "RR",
                        "k": r["k_trials"],
                        "estimate": r["estimate"],
                        "ci_lb": r["ci_lb"],
                        "ci_ub": r["ci_ub"],
                        "excludes_null": bool(r["ci_lb"] > 1 or r["ci_ub"] < 1),
                        "trials": sorted(r["trials"]),
                    }
    return dict(sorted(out.items()))


def _dose_key(fraction: float | None) -> str:
    return "all" if fraction is None else f"{fraction:.0%}"


def compare_answers(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """What changed from ``old`` to ``new``: answers added or removed, and answers whose
    estimate, CI or trials changed, with the change (on the log scale for ratios, as
    a ratio of ratios) and whether the CI now, or no longer, excludes no effect."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            changes.append(
                {"key": key, "change": "added" if a is None else "removed", "before": a, "after": b}
            )
            continue
        same = (
            a["trials"] == b["trials"]
            and math.isclose(a["estimate"], b["estimate"], rel_tol=1e-12, abs_tol=1e-12)
            and math.isclose(a["ci_lb"], b["ci_lb"], rel_tol=1e-12, abs_tol=1e-12)
        )
        if same:
            continue
        entry = {"key": key, "change": "moved", "before": a, "after": b}
        if b["measure"] == "RR":
            entry["ratio_of_estimates"] = b["estimate"] / a["estimate"]
        else:
            entry["difference"] = b["estimate"] - a["estimate"]
        if a["excludes_null"] != b["excludes_null"]:
            entry["significance"] = (
                "the CI now excludes no effect"
                if b["excludes_null"]
                else "the CI no longer excludes no effect"
            )
        changes.append(entry)
    return changes


def _year(label: str) -> int:
    m = re.search(r"(19|20)\d{2}", label)
    if m is None:
        raise EvidenceInputError("trial label", label, "a label with its publication year")
    return int(m.group(0))


def cumulative_by_year(
    trials: list[dict[str, Any]],
    agent: str,
    time: str,
    fraction: float | None = None,
    outcome: str = "depression",
) -> pd.DataFrame:
    """The mean-difference meta-analysis at ``time`` refitted trial by trial in order of
    publication year (the year in each trial's label): one row per step (``cumul``)."""
    rows, _ = md_rows(trials, agent=agent, fraction=fraction, outcome=outcome, time=time)
    if len(rows) < 2:
        raise EvidenceInputError("trials", f"{len(rows)} row(s)", "two or more trials to pool")
    yi, vi, labels = as_arrays(rows)
    res = rma(yi, vi, method="REML", test="knha", slab=labels)
    years = np.array([_year(label) for label in labels])
    table = cumul(res, order=years)
    table.insert(0, "year", np.sort(years, kind="stable"))
    return table
