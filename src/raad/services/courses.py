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
from raad.store.models import Administration, Course, utcnow

from . import audit, deid, schedules, signatures, views
from .authz import can_read, can_write, require_admin
from .context import Actor
from .errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from .patients import age_on, load
from .preconditions import IfMatch, matches
from .schemas import CourseIn, SignatureIn
from .screenings import check_override, contraindicated_now

STATUSES = ("active", "completed", "stopped")


def _schedule(p: Any, data: CourseIn) -> Any:
    """The regimen's dated schedule for this patient (age from the recorded birth date)."""
    try:
        return plan_course(
            data.regimen,
            data.start,
            weight_kg=data.weight_kg,
            age_years=age_on(p, data.start),
            maintenance_sessions=data.maintenance_sessions,
        )
    except ClinicalInputError as exc:
        raise InvalidInput(exc.field, exc.value, exc.allowed) from None


def preview(db: Session, actor: Actor, patient_id: int, data: CourseIn) -> dict[str, Any]:
    """The schedule ``data`` would plan for this patient (age from the recorded birth date),
    without storing anything: ``{"course": plan, "agent", "reasons": contraindications now,
    "open": what screening still asks}``."""
    from .screenings import open_items

    p = load(db, patient_id)
    can_read(actor, p)
    c = _schedule(p, data)
    return {
        "course": c.to_dict(),
        "agent": c.agent,
        "reasons": contraindicated_now(db, actor, p.id).get(c.agent, []),
        "open": open_items(db, actor, p.id, c.agent),
    }


def plan(db: Session, actor: Actor, patient_id: int, data: CourseIn) -> dict[str, Any]:
    p = load(db, patient_id)
    can_write(actor, p.site_id)
    c = _schedule(p, data)
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
    schedules.start_defaults(db, actor, row)  # self-report from home, where the site has it on
    return view


def load_course(db: Session, course_id: int) -> Course:
    c = db.get(Course, course_id)
    if c is None:
        raise NotFound(f"course {course_id} not found")
    return c


def _shown(db: Session, c: Course) -> dict[str, Any]:
    return {**views.course(c), "signatures": signatures.of(db, "course", [c.id]).get(c.id, [])}


def get(db: Session, actor: Actor, course_id: int) -> dict[str, Any]:
    c = load_course(db, course_id)
    p = load(db, c.patient_id)
    can_read(actor, p)
    return deid.view(actor, _shown(db, c), p.date_shift_days)


def contraindications(db: Session, actor: Actor, course_id: int) -> list[dict[str, Any]]:
    """Why the patient's screening, computed now from the current facts, says the course's agent
    is contraindicated ([] when it does not): a session then needs an override reason."""
    c = load_course(db, course_id)
    return contraindicated_now(db, actor, c.patient_id).get(c.agent, [])


def list_for(db: Session, actor: Actor, patient_id: int) -> list[dict[str, Any]]:
    p = load(db, patient_id)
    can_read(actor, p)
    rows = db.scalars(select(Course).where(Course.patient_id == p.id).order_by(Course.id)).all()
    signed = signatures.of(db, "course", (c.id for c in rows))
    shown = [{**views.course(c), "signatures": signed.get(c.id, [])} for c in rows]
    return deid.view(actor, shown, p.date_shift_days)


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
    _version(c, if_match)
    _not_locked(c)
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
    return _shown(db, c)


def _not_locked(c: Course) -> None:
    if c.locked_at is not None:
        raise Conflict(
            f"course {c.id} is signed and locked; an admin must unlock it (with a reason) first"
        )


def _version(c: Course, if_match: int | IfMatch) -> None:
    if not matches(c.version, if_match):
        raise PreconditionFailed(
            f"course {c.id} is at version {c.version}, not {if_match}",
            current_version=c.version,
        )


def lock(
    db: Session,
    actor: Actor,
    course_id: int,
    if_match: int | IfMatch,
    signature: SignatureIn | None = None,
) -> dict[str, Any]:
    """Sign and lock a finished course (meaning: approval): the course, its sessions and their
    alerts can no longer change (no status change, no acknowledgement) until an admin unlocks
    it. The course must be completed or stopped and every session discharged.

    Raises:
        PreconditionFailed (stale ``if_match``), Conflict (locked already, still active, a
        session not discharged), InvalidInput (no signature), SignatureRefused.
    """
    c = load_course(db, course_id)
    p = load(db, c.patient_id)
    can_write(actor, p.site_id)
    _version(c, if_match)
    _not_locked(c)
    if c.status == "active":
        raise Conflict(
            f"course {c.id} is active: set it completed or stopped before signing and locking it"
        )
    open_sessions = db.scalars(
        select(Administration.id).where(
            Administration.course_id == c.id, Administration.discharged_at.is_(None)
        )
    ).all()
    if open_sessions:
        raise Conflict(
            f"course {c.id} has sessions not discharged: "
            + ", ".join(f"#{i}" for i in open_sessions),
            open_sessions=list(open_sessions),
        )
    signer = signatures.check_signer(db, actor, signature)
    c.locked_at = utcnow()
    c.locked_by = actor.user_id
    db.flush()
    signatures.sign(db, actor, signer, "course", c.id, "lock", patient_id=p.id)
    audit.record(
        db,
        actor,
        "update",
        "course",
        c.id,
        patient_id=p.id,
        before={"locked_at": None},
        after={"locked_at": c.locked_at.isoformat(), "locked_by": actor.user_id},
    )
    return _shown(db, c)


def unlock(
    db: Session, actor: Actor, course_id: int, if_match: int | IfMatch, reason: str
) -> dict[str, Any]:
    """Unlock a locked course (admins only, with a reason): its lock signature is withdrawn
    (kept, with who, when and why) and the course can change again.

    Raises:
        Forbidden (not an admin), PreconditionFailed, Conflict (not locked), InvalidInput (no
        reason).
    """
    require_admin(actor)
    c = load_course(db, course_id)
    p = load(db, c.patient_id)
    _version(c, if_match)
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("reason", reason, "why the locked course must change")
    if c.locked_at is None:
        raise Conflict(f"course {c.id} is not locked")
    before = {"locked_at": c.locked_at.isoformat(), "locked_by": c.locked_by}
    c.locked_at = None
    c.locked_by = None
    withdrawn = signatures.withdraw(db, actor, "course", c.id, "lock", why)
    db.flush()
    audit.record(
        db,
        actor,
        "update",
        "course",
        c.id,
        patient_id=p.id,
        before=before,
        after={"locked_at": None, "withdrawn_signatures": withdrawn},
        reason=why,
    )
    return _shown(db, c)
