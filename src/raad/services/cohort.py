"""Cohort outcomes: response and remission rates by agent, regimen and instrument.

A course counts when its patient has at least two totals on the same instrument from the
course start on (the first is the baseline). Response and remission use the instrument's
default definitions (raad.scales.compare), so the rates carry the same sources.
"""

from __future__ import annotations

import threading
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
Group = tuple[str, str, str]  # (agent, regimen, instrument)
# one course's outcome on one instrument: (group, responded, remitted, response rule,
# remission rule)
Outcome = tuple[Group, bool, bool, str | None, str | None]


class _Tally:
    """The cohort's outcomes kept up to date: each patient's course outcomes and their sums
    per group, with the newest course and rating seen. A new course or rating recomputes only
    its patient; anything else (a removal, another knowledge version) recomputes all."""

    def __init__(self) -> None:
        self.mark: tuple[Any, ...] = ()
        self.per_patient: dict[int, list[Outcome]] = {}
        self.groups: dict[Group, dict[str, Any]] = {}

    def put(self, patient_id: int, outcomes: list[Outcome]) -> None:
        for sign, rows in ((-1, self.per_patient.pop(patient_id, [])), (1, outcomes)):
            for group, responded, remitted, response_rule, remission_rule in rows:
                g = self.groups.setdefault(group, {"courses": 0, "response": 0, "remission": 0})
                g["courses"] += sign
                g["response"] += sign * responded
                g["remission"] += sign * remitted
                if sign > 0:
                    g["response_rule"], g["remission_rule"] = response_rule, remission_rule
                elif g["courses"] == 0:
                    del self.groups[group]
        if outcomes:
            self.per_patient[patient_id] = outcomes


# (database, scope, knowledge version) -> its tally; a handful of scopes per process
_TALLIES: dict[tuple[Any, ...], _Tally] = {}
_TALLIES_SIZE = 32
_LOCK = threading.Lock()


def _mark(db: Any, site_id: int | None) -> tuple[Any, ...]:
    """What the outcomes are computed from, summarised: the courses' and ratings' counts and
    newest ids in scope (courses and ratings are added or removed, never edited in place)."""
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


def _in_scope(q: Any, table_: Any, site_id: int | None) -> Any:
    if site_id is None:
        return q
    return q.join(_PATIENT, _PATIENT.c.id == table_.c.patient_id).where(
        _PATIENT.c.site_id == site_id
    )


def _changed_patients(db: Any, site_id: int | None, was: tuple[Any, ...], now: tuple[Any, ...]):
    """The patients with a course or rating newer than ``was``, or None when the change is not
    only additions (a removal: recompute everything)."""
    n_courses, top_course, n_ratings, top_rating = was
    new_courses = db.execute(
        _in_scope(select(_COURSE.c.patient_id), _COURSE, site_id).where(
            _COURSE.c.id > (top_course or 0)
        )
    ).all()
    new_ratings = db.execute(
        _in_scope(select(_ASSESSMENT.c.patient_id), _ASSESSMENT, site_id).where(
            _ASSESSMENT.c.id > (top_rating or 0)
        )
    ).all()
    if (n_courses + len(new_courses), n_ratings + len(new_ratings)) != (now[0], now[2]):
        return None
    return {r.patient_id for r in new_courses} | {r.patient_id for r in new_ratings}


def _outcomes(
    db: Any, site_id: int | None, patient_ids: set[int] | None = None
) -> dict[int, list[Outcome]]:
    """Each patient's course outcomes (all in scope, or only ``patient_ids``): two queries (the
    courses, and every total of their patients in time order), then compared here."""
    cq = _in_scope(
        select(_COURSE.c.patient_id, _COURSE.c.agent, _COURSE.c.regimen, _COURSE.c.start_date),
        _COURSE,
        site_id,
    )
    aq = _in_scope(
        select(
            _ASSESSMENT.c.patient_id,
            _ASSESSMENT.c.instrument,
            _ASSESSMENT.c.total,
            _ASSESSMENT.c.administered_at,
        )
        .where(_ASSESSMENT.c.total.is_not(None))
        .order_by(_ASSESSMENT.c.patient_id, _ASSESSMENT.c.administered_at, _ASSESSMENT.c.id),
        _ASSESSMENT,
        site_id,
    )
    if patient_ids is not None:
        cq = cq.where(_COURSE.c.patient_id.in_(patient_ids))
        aq = aq.where(_ASSESSMENT.c.patient_id.in_(patient_ids))
    ratings: dict[int, list[Any]] = defaultdict(list)
    for r in db.execute(aq):
        ratings[r.patient_id].append(r)
    out: dict[int, list[Outcome]] = {pid: [] for pid in patient_ids or ()}
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
            out.setdefault(c.patient_id, []).append(
                (
                    (c.agent, c.regimen, name),
                    bool(cmp.response),
                    bool(cmp.remission),
                    cmp.calls["response"].rule if "response" in cmp.calls else None,
                    cmp.calls["remission"].rule if "remission" in cmp.calls else None,
                )
            )
    return out


def _groups(db: Any, site_id: int | None) -> dict[Group, dict[str, Any]]:
    """The outcomes per group (a copy), brought up to date: unchanged rows cost two aggregate
    queries; added courses or ratings recompute their patients only; else everything. One
    request updates a tally at a time (requests run in worker threads)."""
    with _LOCK:
        return {k: dict(v) for k, v in _update(db, site_id).items()}


def _update(db: Any, site_id: int | None) -> dict[Group, dict[str, Any]]:
    key = (str(db.get_bind().url), site_id, knowledge_version())
    now = _mark(db, site_id)
    tally = _TALLIES.get(key)
    if tally is not None and tally.mark == now:
        return tally.groups
    changed = _changed_patients(db, site_id, tally.mark, now) if tally is not None else None
    if tally is None or changed is None:
        tally = _Tally()
        changed_outcomes = _outcomes(db, site_id)
    else:
        changed_outcomes = _outcomes(db, site_id, changed)
    for pid, rows in changed_outcomes.items():
        tally.put(pid, rows)
    tally.mark = now
    if key not in _TALLIES and len(_TALLIES) >= _TALLIES_SIZE:
        _TALLIES.pop(next(iter(_TALLIES)))
    _TALLIES[key] = tally
    return tally.groups


def outcomes(db: Session, actor: Actor) -> list[dict[str, Any]]:
    """Response and remission rates by agent, regimen and instrument, for the caller's site
    (clinicians) or every site; de-identified roles get small cells suppressed. Kept up to
    date per patient (see ``_groups``): a new rating costs its patient's recomputation, not
    the cohort's."""
    site_id = actor.site_id if actor.role == "clinician" else None
    groups = _groups(db, site_id)
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
