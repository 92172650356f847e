"""The clinic's own outcomes as an observational stratum beside the trials.

For one agent, per regimen, instrument and time point (``knowledge/cohort_time_points.yaml``):
the courses with a baseline rating (the first from a week before the course start), how many
have a rating at the time point and how many do not (missing follow-up, counted, never
dropped), the mean change from baseline among those followed, and response and remission by
the instrument's own rules (raad.scales.compare). Beside it, the trials' response and
remission proportions in the agent's arms at the same time point (trial base counts), pooled
on the logit scale (metafor's PLO, REML) where two or more trials report one. Randomised and
observational results are never pooled together, except in an explicitly labelled
sensitivity analysis. Counts below the minimum cell size (knowledge/disclosure.yaml) are shown
as "<N" with their rates withheld, and groups smaller than it are left out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.evidence import EvidenceInputError, escalc, rma
from raad.knowledge.cohort_time_points import cohort_time_points
from raad.knowledge.trials import trial_base
from raad.scales import compare, get
from raad.store.core import table
from raad.store.models import Assessment, Course

from .cohort import _in_scope
from .context import Actor
from .deid import MIN_CELL

_COURSE, _ASSESSMENT = table(Course), table(Assessment)
OUTCOMES = ("response", "remission")
SENSITIVITY_LABEL = (
    "SENSITIVITY ANALYSIS: randomised trial arms and the clinic's observational courses pooled "
    "together; not an estimate of the treatment effect"
)


def course_series(
    db: Session, site_id: int | None, agent: str | None = None, regimen: str | None = None
) -> list[dict[str, Any]]:
    """Each course (of ``agent`` or ``regimen``, in ``site_id`` or everywhere) with, per
    instrument that has a baseline (its first rating from a week before the start, taken
    before the start's second day), the baseline and the later ratings as (day, total)."""
    q = select(_COURSE.c.id, _COURSE.c.patient_id, _COURSE.c.regimen, _COURSE.c.start_date)
    if agent is not None:
        q = q.where(_COURSE.c.agent == agent)
    if regimen is not None:
        q = q.where(_COURSE.c.regimen == regimen)
    courses = db.execute(_in_scope(q, _COURSE, site_id)).all()
    pids = {c.patient_id for c in courses}
    ratings: dict[int, list[Any]] = defaultdict(list)
    if pids:
        rq = (
            select(
                _ASSESSMENT.c.patient_id,
                _ASSESSMENT.c.instrument,
                _ASSESSMENT.c.total,
                _ASSESSMENT.c.administered_at,
            )
            .where(_ASSESSMENT.c.total.is_not(None), _ASSESSMENT.c.patient_id.in_(pids))
            .order_by(_ASSESSMENT.c.administered_at, _ASSESSMENT.c.id)
        )
        for r in db.execute(_in_scope(rq, _ASSESSMENT, site_id)):
            ratings[r.patient_id].append(r)
    out = []
    for c in courses:
        start = datetime.combine(c.start_date, time.min, UTC)
        by_instrument: dict[str, list[Any]] = defaultdict(list)
        for r in ratings.get(c.patient_id, ()):
            at = r.administered_at
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            if at >= start - timedelta(days=7):
                by_instrument[r.instrument].append(((at - start).days, r.total))
        for name, series in by_instrument.items():
            if get(name).outcomes.response is None or series[0][0] > 0:
                continue  # no baseline rating before the course began
            out.append(
                {
                    "course_id": c.id,
                    "patient_id": c.patient_id,
                    "regimen": c.regimen,
                    "start": c.start_date,
                    "instrument": name,
                    "baseline": series[0][1],
                    "later": series[1:],
                }
            )
    return out


def at_time_point(later: list[tuple[int, float]], tp: Any) -> tuple[int, float] | None:
    """The (index, total) of the rating inside the time point's window nearest its target."""
    lo, hi = tp.window
    inside = [
        (abs(day - tp.target_day), i, total)
        for i, (day, total) in enumerate(later)
        if lo <= day <= hi
    ]
    if not inside:
        return None
    _, i, total = min(inside)
    return i, total


def clinic_strata(db: Session, actor: Actor | None, agent: str) -> list[dict[str, Any]]:
    """One row per (regimen, instrument, time point) for ``agent``'s courses in the caller's
    scope (a clinician's site; everyone else, or the command line, every site)."""
    site_id = actor.site_id if actor is not None and actor.role == "clinician" else None
    points = cohort_time_points().time_points
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for c in course_series(db, site_id, agent=agent):
        name, base, later = c["instrument"], c["baseline"], c["later"]
        for tp in points:
            g = groups.setdefault(
                (c["regimen"], name, tp.label),
                {"courses": 0, "followed": 0, "changes": [], "response": 0, "remission": 0},
            )
            g["courses"] += 1
            found = at_time_point(later, tp)
            if found is None:
                continue
            i, total = found
            cmp = compare(name, base, total, history=[t for _, t in later[:i]])
            g["followed"] += 1
            g["changes"].append(total - base)
            g["response"] += bool(cmp.response)
            g["remission"] += bool(cmp.remission)
    rows = []
    for (regimen, instrument, label), g in sorted(groups.items()):
        n, f = g["courses"], g["followed"]
        if n < MIN_CELL:
            continue
        ch = np.asarray(g["changes"], dtype=float)
        row: dict[str, Any] = {
            "regimen": regimen,
            "instrument": instrument,
            "time": label,
            "courses": n,
            "followed": _cell(f),
            "missing_follow_up": _cell(n - f),
            "change_mean": float(ch.mean()) if f >= MIN_CELL else None,
            "change_sd": float(ch.std(ddof=1)) if f >= MIN_CELL else None,
        }
        for o in OUTCOMES:
            row[o] = _cell(g[o])
            row[f"{o}_rate"] = g[o] / f if f >= MIN_CELL and isinstance(row[o], int) else None
        rows.append(row)
    return rows


def _cell(count: int) -> int | str:
    return f"<{MIN_CELL}" if 0 < count < MIN_CELL else count


def trial_strata(agent: str, outcome: str, time_label: str) -> dict[str, Any]:
    """The agent's arms' ``outcome`` proportions at ``time_label`` in the trial base, and their
    pooled proportion (logit, REML) when two or more trials report one."""
    rows = []
    for t in trial_base().trials:
        arms = {a.id: a for a in t.arms}
        for n in t.numbers:
            if (
                n.kind == "count"
                and n.outcome == outcome
                and n.time == time_label
                and arms[n.arm].agent == agent
            ):
                rows.append(
                    {
                        "study": t.label,
                        "arm": n.arm,
                        "events": n.events,
                        "n": n.n,
                        "proportion": n.events / n.n,
                        "flag": n.flag,
                        "source": n.cite.source,
                    }
                )
    pooled = None
    if len(rows) >= 2:
        es = escalc("PLO", xi=[r["events"] for r in rows], ni=[r["n"] for r in rows])
        try:
            res = rma(es.yi, es.vi, method="REML")
        except EvidenceInputError:
            res = None
        if res is not None:
            lo, hi = res.ci_lb, res.ci_ub
            pooled = {
                "k": len(rows),
                "proportion": _expit(res.beta[0]),
                "ci_lb": _expit(lo),
                "ci_ub": _expit(hi),
                "tau2": res.tau2,
                "method": "random effects, logit proportions (PLO), REML",
            }
    return {"rows": rows, "pooled": pooled}


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def cohort_evidence(
    db: Session, actor: Actor | None, agent: str, *, sensitivity: bool = False
) -> dict[str, Any]:
    """The clinic strata beside the trials, per outcome and time point; with
    ``sensitivity``, also both pooled together, labelled as a sensitivity analysis."""
    clinic = clinic_strata(db, actor, agent)
    strata = []
    for tp in cohort_time_points().time_points:
        for outcome in OUTCOMES:
            trials = trial_strata(agent, outcome, tp.label)
            here = [
                {
                    k: r[k]
                    for k in ("regimen", "instrument", "courses", "followed", "missing_follow_up")
                }
                | {"events": r[outcome], "rate": r[f"{outcome}_rate"]}
                for r in clinic
                if r["time"] == tp.label
            ]
            if not trials["rows"] and not here:
                continue
            entry: dict[str, Any] = {
                "outcome": outcome,
                "time": tp.label,
                "trials": trials["rows"],
                "trials_pooled": trials["pooled"],
                "clinic": here,
            }
            if sensitivity:
                entry["sensitivity"] = _pool_all(trials["rows"], here)
            strata.append(entry)
    return {
        "agent": agent,
        "time_points": {
            "note": cohort_time_points().note,
            "windows_days": {tp.label: list(tp.window) for tp in cohort_time_points().time_points},
        },
        "min_cell_size": MIN_CELL,
        "strata": strata,
        "clinic_change_scores": [
            {
                k: r[k]
                for k in ("regimen", "instrument", "time", "followed", "change_mean", "change_sd")
            }
            for r in clinic
        ],
        "note": "The clinic's courses are observational (no control group); they are shown "
        "beside the trials, never pooled with them by default.",
    }


def _pool_all(trials: list[dict], clinic: list[dict]) -> dict[str, Any] | None:
    usable = [
        c
        for c in clinic
        if isinstance(c["events"], int) and isinstance(c["followed"], int) and c["followed"] > 0
    ]
    events = [r["events"] for r in trials] + [c["events"] for c in usable]
    ns = [r["n"] for r in trials] + [c["followed"] for c in usable]
    if len(events) < 2:
        return None
    es = escalc("PLO", xi=events, ni=ns)
    try:
        res = rma(es.yi, es.vi, method="REML")
    except EvidenceInputError:
        return None
    return {
        "label": SENSITIVITY_LABEL,
        "k": len(events),
        "proportion": _expit(res.beta[0]),
        "ci_lb": _expit(res.ci_lb),
        "ci_ub": _expit(res.ci_ub),
    }


def reliable_rates(db: Session, actor: Actor) -> list[dict[str, Any]]:
    """Reliable improvement, reliable deterioration and reliable recovery (reliable
    improvement with the latest total meeting the instrument's remission rule) of each course's
    latest rating against its baseline (Jacobson & Truax 1991, raad.scales.reliable_change),
    by regimen and instrument, and for admins also by the clinician who planned the course.
    A clinician sees their site; counts below the minimum cell size are withheld and groups
    smaller than it left out. Instruments without a reliable-change threshold are counted as
    not assessable."""
    from raad.scales.reliable_change import classify
    from raad.store.models import User

    site_id = actor.site_id if actor.role == "clinician" else None
    series = course_series(db, site_id)
    planner: dict[int, str] = {}
    if actor.role == "admin" and series:
        ids = {s["course_id"] for s in series}
        for cid, name in db.execute(
            select(_COURSE.c.id, User.username)
            .join(User, User.id == _COURSE.c.created_by)
            .where(_COURSE.c.id.in_(ids))
        ):
            planner[cid] = name
    groups: dict[tuple[str, str, str], dict[str, int]] = {}
    for s in series:
        if not s["later"]:
            continue
        rc = classify(s["instrument"], s["baseline"], s["later"][-1][1])
        remitted = bool(compare(s["instrument"], s["baseline"], s["later"][-1][1]).remission)
        keys = [(s["regimen"], s["instrument"], "all clinicians")]
        if s["course_id"] in planner:
            keys.append((s["regimen"], s["instrument"], planner[s["course_id"]]))
        for key in keys:
            g = groups.setdefault(
                key,
                {
                    "courses": 0,
                    "improved": 0,
                    "deteriorated": 0,
                    "recovered": 0,
                    "not_assessable": 0,
                },
            )
            g["courses"] += 1
            if rc["status"] == "unknown":
                g["not_assessable"] += 1
            g["improved"] += rc["status"] == "reliable improvement"
            g["deteriorated"] += rc["status"] == "reliable deterioration"
            g["recovered"] += rc["status"] == "reliable improvement" and remitted
    rows = []
    for (regimen, instrument, who), g in sorted(groups.items()):
        n = g["courses"]
        if n < MIN_CELL:
            continue
        assessable = n - g["not_assessable"]
        row: dict[str, Any] = {
            "regimen": regimen,
            "instrument": instrument,
            "clinician": who,
            "courses": n,
            "not_assessable": g["not_assessable"],
        }
        for k in ("improved", "deteriorated", "recovered"):
            row[k] = _cell(g[k])
            row[f"{k}_rate"] = g[k] / assessable if assessable and isinstance(row[k], int) else None
        rows.append(row)
    return rows


def design_inputs_from_clinic(
    db: Session, agent: str, instrument: str | None = None, regimen: str | None = None
) -> dict[str, Any]:
    """Inputs for ``raad pharm design`` from this clinic's own courses of ``agent`` on one
    instrument (the one with most courses, unless given), over the time points 1w, 2w and 4w:
    the correlation between two visits' scores (Pearson, over the courses rated at both,
    averaged over visit pairs on Fisher's z scale), the SD of the scores, and the share of
    courses still rated at each later visit among those rated at the one before whose later
    window has closed (monotone dropout; a visit no course was rated at is skipped). Needs at least the minimum cell size of courses rated at two visits; otherwise
    says so (``available`` False)."""
    series = course_series(db, None, agent=agent, regimen=regimen)
    if instrument is None:
        counts: dict[str, int] = defaultdict(int)
        for s in series:
            counts[s["instrument"]] += 1
        instrument = max(counts, key=counts.get) if counts else None
    points = [tp for tp in cohort_time_points().time_points if tp.label in ("1w", "2w", "4w")]
    scores: list[list[float | None]] = []
    due: list[list[bool]] = []  # whether each visit's window had closed by today
    today = datetime.now(UTC).date()
    for s in series:
        if s["instrument"] != instrument:
            continue
        row = []
        for tp in points:
            found = at_time_point(s["later"], tp)
            row.append(None if found is None else float(found[1]))
        scores.append(row)
        due.append([s["start"] + timedelta(days=tp.window[1]) < today for tp in points])
    out: dict[str, Any] = {
        "agent": agent,
        "regimen": regimen,
        "instrument": instrument,
        "courses": len(scores),
    }
    pairs = []
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            both = [(r[i], r[j]) for r in scores if r[i] is not None and r[j] is not None]
            if len(both) >= MIN_CELL:
                a, b = np.asarray(both).T
                if a.std() > 0 and b.std() > 0:
                    pairs.append((len(both), float(np.corrcoef(a, b)[0, 1])))
    if not pairs:
        out.update(available=False, reason=f"fewer than {MIN_CELL} courses rated at two visits")
        return out
    z = np.average(
        [np.arctanh(np.clip(r, -0.999, 0.999)) for _, r in pairs], weights=[n - 3 for n, _ in pairs]
    )
    values = [v for r in scores for v in r if v is not None]
    stays = []
    for i in range(1, len(points)):
        # courses rated at the visit before whose next window has closed; a visit no course
        # was rated at is not part of this clinic's schedule and is skipped
        before = [r for r, d in zip(scores, due, strict=True) if r[i - 1] is not None and d[i]]
        kept = sum(r[i] is not None for r in before)
        if len(before) >= MIN_CELL and kept > 0:
            stays.append(kept / len(before))
    out.update(
        available=True,
        rho=float(np.tanh(z)),
        sd=float(np.std(values, ddof=1)),
        dropout=float(1 - np.mean(stays)) if stays else None,
        visits=[tp.label for tp in points],
        pairs=[{"n": n, "r": r} for n, r in pairs],
    )
    return out
