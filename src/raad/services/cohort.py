"""Cohort outcomes: response and remission rates by agent, regimen and instrument.

A course counts when its patient has at least two totals on the same instrument from the
course start on (the first is the baseline). Response and remission use the instrument's
default definitions (raad.scales.compare), so the rates carry the same sources.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raad.knowledge.treatment import knowledge_version
from raad.scales import compare, get
from raad.store.core import table
from raad.store.models import Assessment, Course, Patient

from . import deid
from .context import Actor

_COURSE, _ASSESSMENT, _PATIENT = table(Course), table(Assessment), table(Patient)
# (scope, fingerprint of the rows read, knowledge version) -> the groups: the page costs two
# small aggregate queries while nothing changed, whatever the cohort's size
_CACHE: dict[tuple[Any, ...], dict[tuple[str, str, str], dict[str, Any]]] = {}
_CACHE_SIZE = 32


def _fingerprint(db: Any, site_id: int | None) -> tuple[Any, ...]:
    """What the outcomes are computed from, summarised: the courses' and ratings' counts and
    newest ids in scope (a new or removed course or rating changes it; neither is edited in
    place)."""
    courses = select(func.count(), func.max(_COURSE.c.id)).select_from(_COURSE)
    ratings = select(func.count(), func.max(_ASSESSMENT.c.id)).select_from(_ASSESSMENT)
    if site_id is not None:
        courses = courses.join(_PATIENT, _PATIENT.c.id == _COURSE.c.patient_id).where(
            _PATIENT.c.site_id == site_id
        )
        ratings = ratings.join(_PATIENT, _PATIENT.c.id == _ASSESSMENT.c.patient_id).where(
            _PATIENT.c.site_id == site_id
        )
    return (*db.execute(courses).one(), *db.execute(ratings).one())


def _groups(db: Any, site_id: int | None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Response and remission per (agent, regimen, instrument): two queries (the courses, and
    every total of their patients in time order), then grouped here."""
    cq = select(_COURSE.c.patient_id, _COURSE.c.agent, _COURSE.c.regimen, _COURSE.c.start_date)
    aq = (
        select(
            _ASSESSMENT.c.patient_id,
            _ASSESSMENT.c.instrument,
            _ASSESSMENT.c.total,
            _ASSESSMENT.c.administered_at,
        )
        .where(_ASSESSMENT.c.total.is_not(None))
        .order_by(_ASSESSMENT.c.patient_id, _ASSESSMENT.c.administered_at, _ASSESSMENT.c.id)
    )
    if site_id is not None:
        cq = cq.join(_PATIENT, _PATIENT.c.id == _COURSE.c.patient_id).where(
            _PATIENT.c.site_id == site_id
        )
        aq = aq.join(_PATIENT, _PATIENT.c.id == _ASSESSMENT.c.patient_id).where(
            _PATIENT.c.site_id == site_id
        )
    ratings: dict[int, list[Any]] = defaultdict(list)
    for r in db.execute(aq):
        ratings[r.patient_id].append(r)
    groups: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"courses": 0, "response": 0, "remission": 0}
    )
    window = _baseline_window()
    for c in db.execute(cq):
        start = datetime.combine(c.start_date, time.min, UTC) - window
        by_instrument: dict[str, list[float]] = defaultdict(list)
        for r in ratings.get(c.patient_id, ()):
            if r.administered_at >= start:
                by_instrument[r.instrument].append(r.total)
        for name, totals in by_instrument.items():
            if len(totals) < 2 or get(name).outcomes.response is None:
                continue
            cmp = compare(name, totals[0], totals[-1], history=totals[1:-1])
            g = groups[(c.agent, c.regimen, name)]
            g["courses"] += 1
            g["response"] += bool(cmp.response)
            g["remission"] += bool(cmp.remission)
            g["response_rule"] = cmp.calls["response"].rule if "response" in cmp.calls else None
            g["remission_rule"] = cmp.calls["remission"].rule if "remission" in cmp.calls else None
    return dict(groups)


def outcomes(db: Session, actor: Actor) -> list[dict[str, Any]]:
    """Response and remission rates by agent, regimen and instrument, for the caller's site
    (clinicians) or every site; de-identified roles get small cells suppressed. Computed once
    per change of the rows read (and of the knowledge version), then served from memory."""
    site_id = actor.site_id if actor.role == "clinician" else None
    key = (str(db.get_bind().url), site_id, _fingerprint(db, site_id), knowledge_version())
    groups = _CACHE.get(key)
    if groups is None:
        groups = _groups(db, site_id)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = groups
    out = []
    for (agent, regimen, instrument), g in sorted(groups.items()):
        n = g["courses"]
        out.append(
            {
                "agent": agent,
                "regimen": regimen,
                "instrument": instrument,
                **g,
                "response_rate": g["response"] / n,
                "remission_rate": g["remission"] / n,
            }
        )
    if not actor.identified_access:  # small cells would let a patient be picked out
        out = deid.small_cells(
            out, "courses", {"response": "response_rate", "remission": "remission_rate"}
        )
    return out


def _baseline_window():
    """Ratings up to a week before the course start count as its baseline."""
    from datetime import timedelta

    return timedelta(days=7)
