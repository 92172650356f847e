"""A patient's summary: TRD stage, current course, latest scores with response and remission
against the first score on the same instrument, and open alerts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raad.clinical.staging import Trial, trd_status
from raad.scales import compare
from raad.store.models import Administration, Alert, Assessment, Course

from . import views
from .authz import can_read
from .context import Actor
from .patients import load


def summary(db: Session, actor: Actor, patient_id: int) -> dict[str, Any]:
    p = load(db, patient_id)
    can_read(actor, p)
    trd = trd_status([_trial(t) for t in p.history])
    course = db.scalar(
        select(Course).where(Course.patient_id == p.id).order_by(Course.id.desc()).limit(1)
    )
    current = None
    if course is not None:
        done = db.scalar(
            select(func.count())
            .select_from(Administration)
            .where(Administration.course_id == course.id)
        )
        current = {
            **views.course(course),
            "sessions_recorded": done,
            "sessions_planned": len(course.plan["sessions"]),
        }
        current.pop("plan")
    scores = []
    rows = db.scalars(
        select(Assessment)
        .where(Assessment.patient_id == p.id, Assessment.total.is_not(None))
        .order_by(Assessment.administered_at, Assessment.id)
    ).all()
    by_instrument: dict[str, list[Assessment]] = {}
    for r in rows:
        by_instrument.setdefault(r.instrument, []).append(r)
    for name, items in by_instrument.items():
        first, last = items[0], items[-1]
        entry: dict[str, Any] = {
            "instrument": name,
            "latest": views.assessment(last),
            "baseline": {
                "total": first.total,
                "administered_at": first.administered_at.isoformat(),
            },
            "count": len(items),
        }
        if len(items) > 1:
            cmp = compare(name, first.total, last.total, history=[i.total for i in items[1:-1]])
            entry["comparison"] = cmp.to_dict()
        scores.append(entry)
    alerts = db.scalars(
        select(Alert)
        .where(
            Alert.patient_id == p.id, Alert.acknowledged_at.is_(None), Alert.cleared_at.is_(None)
        )
        .order_by(Alert.id)
    ).all()
    return {
        # no identifiers here (GET /patients/{id} gives them, audited); a summary is not an
        # identified read, so it takes no write lock
        "patient": {"id": p.id, **views.patient(p, identified=False)}
        if actor.identified_access
        else views.patient(p, identified=False),
        "trd": trd.to_dict(),
        "current_course": current,
        "scores": scores,
        "open_alerts": [views.alert(a) for a in alerts],
        "disclaimer": "raad supports clinical judgement and never replaces it.",
    }


def _trial(t: Any) -> Trial:
    d = views.trial(t)
    d.pop("id")
    return Trial.model_validate(d)
