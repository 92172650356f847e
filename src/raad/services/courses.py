"""Planning a course: the regimen's dated schedule, stored with the knowledge version; planning
an agent the patient's screening (computed now) marks contraindicated needs an override reason,
stored on the course and audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.clinical.errors import ClinicalInputError
from raad.clinical.protocols import plan_course
from raad.knowledge.treatment import knowledge_version
from raad.store.models import Course

from . import audit, deid, views
from .authz import can_read, can_write
from .context import Actor
from .errors import InvalidInput, NotFound, PreconditionFailed
from .patients import age_on, load
from .preconditions import IfMatch, matches
from .schemas import CourseIn
from .screenings import check_override, contraindicated_now

STATUSES = ("active", "completed", "stopped")


def plan(db: Session, actor: Actor, patient_id: int, data: CourseIn) -> dict[str, Any]:
    p = load(db, patient_id)
    can_write(actor, p.site_id)
    try:
        c = plan_course(
            data.regimen,
            data.start,
            weight_kg=data.weight_kg,
            age_years=age_on(p, data.start),
            maintenance_sessions=data.maintenance_sessions,
        )
    except ClinicalInputError as exc:
        raise InvalidInput(exc.field, exc.value, exc.allowed) from None
    override = check_override(db, p.id, c.agent, data.override_reason)
    row = Course(
        patient_id=p.id,
        regimen=c.regimen,
        agent=c.agent,
        start_date=c.start,
        plan=c.to_dict(),
        status="active",
        knowledge_version=knowledge_version(),
        override_reason=data.override_reason.strip() if override else None,
        override_detail=override,
        created_by=actor.user_id,
    )
    db.add(row)
    db.flush()
    view = views.course(row)
    audit.record(
        db,
        actor,
        "create",
        "course",
        row.id,
        patient_id=p.id,
        after={"regimen": c.regimen, "start": c.start.isoformat(), "override": view["override"]},
    )
    if override:
        audit.record(
            db, actor, "override", "course", row.id, patient_id=p.id, after=view["override"]
        )
    return view


def load_course(db: Session, course_id: int) -> Course:
    c = db.get(Course, course_id)
    if c is None:
        raise NotFound(f"course {course_id} not found")
    return c


def get(db: Session, actor: Actor, course_id: int) -> dict[str, Any]:
    c = load_course(db, course_id)
    p = load(db, c.patient_id)
    can_read(actor, p)
    return deid.view(actor, views.course(c), p.date_shift_days)


def contraindications(db: Session, actor: Actor, course_id: int) -> list[dict[str, Any]]:
    """Why the patient's screening, computed now from the current facts, says the course's agent
    is contraindicated ([] when it does not): a session then needs an override reason."""
    c = load_course(db, course_id)
    return contraindicated_now(db, actor, c.patient_id).get(c.agent, [])


def list_for(db: Session, actor: Actor, patient_id: int) -> list[dict[str, Any]]:
    p = load(db, patient_id)
    can_read(actor, p)
    rows = db.scalars(select(Course).where(Course.patient_id == p.id).order_by(Course.id)).all()
    return deid.view(actor, [views.course(c) for c in rows], p.date_shift_days)


def set_status(
    db: Session,
    actor: Actor,
    course_id: int,
    status: str,
    if_match: int | IfMatch,
    reason: str | None = None,
) -> dict[str, Any]:
    c = load_course(db, course_id)
    p = load(db, c.patient_id)
    can_write(actor, p.site_id)
    if status not in STATUSES:
        raise InvalidInput("status", status, f"one of {', '.join(STATUSES)}")
    if not matches(c.version, if_match):
        raise PreconditionFailed(
            f"course {course_id} is at version {c.version}, not {if_match}",
            current_version=c.version,
        )
    before = views.course(c)
    c.status = status
    db.flush()
    audit.record(
        db,
        actor,
        "update",
        "course",
        c.id,
        patient_id=p.id,
        before={"status": before["status"]},
        after={"status": status},
        reason=(reason or "").strip() or None,
    )
    return views.course(c)
