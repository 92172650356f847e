"""Each patient against the expected course of their regimen.

Two bands, side by side (they answer different questions, and where they disagree both are
shown):

- this clinic's band: at each time point (knowledge/cohort_time_points.yaml), the patient's
  baseline times the 10th and 90th percentiles of follow-up/baseline among this clinic's other
  courses of the same regimen on the same instrument (an empirical 80% prediction band), shown
  only where at least the minimum cell size of courses were followed there;
- the trials' band: where trial arms of the regimen report means on the patient's scale at
  baseline and later (raad.evidence.expected_course: the pooled log ratio of means and its
  heterogeneity as an 80% prediction interval for a new patient, scaled to the patient's
  baseline, with its sources and assumptions). For regimens without such arms the response
  says why there is none.

Reliable change (raad.scales.reliable_change, Jacobson & Truax 1991) of the latest rating
against the baseline. Off track, with each reason: a rating above either band's upper limit at
its time point, or a reliable deterioration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.evidence.expected_course import arm_series, band_at
from raad.knowledge.cohort_time_points import cohort_time_points
from raad.knowledge.treatment import regimens
from raad.knowledge.trials import trial_base
from raad.scales.reliable_change import classify
from raad.store.models import Course

from .authz import can_read_identified
from .cohort_evidence import at_time_point, course_series
from .context import Actor
from .deid import MIN_CELL
from .patients import brief

BAND = (0.10, 0.90)
NO_TRIAL_BAND = (
    "no trial-based band: no trial arm of this regimen reports mean scores on this scale at "
    "baseline and later (the trials report response and remission proportions or differences "
    "against control)"
)


def band_from_ratios(baseline: float, ratios: list[float]) -> tuple[float, float]:
    """The patient's band: baseline times the BAND percentiles of others' ratios."""
    lo, hi = np.quantile(np.asarray(ratios, dtype=float), BAND)
    return float(baseline * lo), float(baseline * hi)


def expected_course(db: Session, actor: Actor, patient_id: int) -> dict[str, Any]:
    """The patient's band, ratings, reliable change and off-track flag with its reasons."""
    p = brief(db, patient_id)
    can_read_identified(actor, p)  # the course dates identify: clinicians and admins only
    course = db.scalars(
        select(Course).where(Course.patient_id == p.id).order_by(Course.id.desc()).limit(1)
    ).first()
    out: dict[str, Any] = {
        "patient_id": p.id,
        "course": None,
        "instrument": None,
        "band": [],
        "trial_band": {"available": False, "reason": NO_TRIAL_BAND},
        "ratings": [],
        "reliable_change": None,
        "off_track": None,
        "reasons": [],
        "band_percentiles": list(BAND),
        "time_points_note": cohort_time_points().note,
    }
    if course is None:
        out["reasons"] = ["no course"]
        return out
    out["course"] = {
        "id": course.id,
        "regimen": course.regimen,
        "start": course.start_date.isoformat(),
    }
    mine = [
        s for s in course_series(db, None, regimen=course.regimen) if s["course_id"] == course.id
    ]
    if not mine:
        out["reasons"] = [
            "no baseline rating on a scale with outcome rules before the course began"
        ]
        return out
    me = mine[0]
    out["instrument"], base = me["instrument"], me["baseline"]
    out["baseline"] = base
    others = [
        s
        for s in course_series(db, p.site_id, regimen=course.regimen)
        if s["instrument"] == me["instrument"] and s["course_id"] != course.id and s["baseline"] > 0
    ]
    off: list[str] = []
    regimen = regimens().get(course.regimen)
    series = arm_series(trial_base().trials, regimen, me["instrument"]) if regimen else []
    trial_points, trial_off = [], []
    for tp in cohort_time_points().time_points:
        b = band_at(series, tp.label, base) if series and base > 0 else None
        if b is not None:
            trial_points.append({**b, "day": tp.target_day})
            found = at_time_point(me["later"], tp)
            if found is not None and found[1] > b["upper"]:
                trial_off.append(
                    f"{me['instrument']} {found[1]:g} at {tp.label} is above the trials' "
                    f"expected band ({b['lower']:.1f} to {b['upper']:.1f}; "
                    f"{'; '.join(b['arms'])} [{', '.join(b['sources'])}])"
                )
    if trial_points:
        out["trial_band"] = {"available": True, "points": trial_points}
    for tp in cohort_time_points().time_points:
        ratios = []
        for s in others:
            found = at_time_point(s["later"], tp)
            if found is not None:
                ratios.append(found[1] / s["baseline"])
        entry: dict[str, Any] = {"time": tp.label, "day": tp.target_day, "courses": len(ratios)}
        if len(ratios) >= MIN_CELL:
            entry["lower"], entry["upper"] = band_from_ratios(base, ratios)
        else:
            entry["lower"] = entry["upper"] = None
            entry["note"] = f"fewer than {MIN_CELL} other courses followed here"
        out["band"].append(entry)
        found = at_time_point(me["later"], tp)
        if found is not None:
            score = found[1]
            out["ratings"].append({"time": tp.label, "score": score})
            if entry["upper"] is not None and score > entry["upper"]:
                off.append(
                    f"{me['instrument']} {score:g} at {tp.label} is above the expected band "
                    f"({entry['lower']:.1f} to {entry['upper']:.1f}; {len(ratios)} other courses "
                    f"of {course.regimen} at this clinic)"
                )
    off += trial_off
    if me["later"]:
        latest = me["later"][-1][1]
        rc = classify(me["instrument"], base, latest)
        out["reliable_change"] = rc
        if rc["status"] == "reliable deterioration":
            t = rc["threshold"]
            off.append(
                f"{me['instrument']} rose {rc['change']:g} points from baseline "
                f"(reliable deterioration: more than {t['points']:.1f}; {', '.join(t['sources'])})"
            )
    out["off_track"] = bool(off) if (me["later"]) else None
    out["reasons"] = off or (["no rating after baseline yet"] if not me["later"] else [])
    return out
