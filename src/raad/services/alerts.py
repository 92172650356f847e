"""Storing, listing and acknowledging safety alerts. Acknowledging a discharge-blocking alert
needs a note saying what was done; who acknowledged it, when and the note are stored, shown
and audited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.store.core import Executor, InsertBatch, Inserter, table
from raad.store.models import Administration, Alert, Course, Patient, User, utcnow

from . import audit, deid, signatures, views
from .authz import can_read, can_write
from .context import Actor
from .errors import Conflict, InvalidInput, NotFound
from .paging import page
from .patients import load
from .schemas import SignatureIn

_insert = Inserter(Alert)


def alert_columns(x: Any) -> dict[str, Any]:
    """The stored columns of an alert raised by the clinical core (``raad.clinical.safety``)."""
    return {
        "code": x.code,
        "level": x.level,
        "message": x.message,
        "facts": x.facts,
        "sources": list(x.sources),
        "blocks_discharge": x.blocks_discharge,
    }


def store_alert(db: Executor | InsertBatch, raised: Any, **links: int | None) -> Any:
    """Insert one raised alert (Core) with its links (patient_id, administration_id,
    assessment_id); returns the stored row (in an ``InsertBatch``, its id once flushed)."""
    return _insert(db, **links, **alert_columns(raised))


_USER = table(User)


def usernames(db: Executor, user_ids: Iterable[int | None]) -> dict[int, str]:
    """User id -> name, to say who acknowledged an alert."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = db.execute(select(_USER.c.id, _USER.c.username).where(_USER.c.id.in_(ids)))
    return {r.id: r.username for r in rows}


def list_alerts(
    db: Session,
    actor: Actor,
    *,
    patient_id: int | None = None,
    open_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    q = select(Alert)
    if patient_id is not None:
        can_read(actor, load(db, patient_id))
        q = q.where(Alert.patient_id == patient_id)
    elif actor.role == "clinician":
        q = q.join(Patient, Patient.id == Alert.patient_id).where(Patient.site_id == actor.site_id)
    if open_only:
        q = q.where(Alert.acknowledged_at.is_(None), Alert.cleared_at.is_(None))
    patient_ids: list[int] = []

    def render(a: Alert) -> dict[str, Any]:
        patient_ids.append(a.patient_id)
        return views.alert(a)

    result = page(db, q.order_by(Alert.id), limit, offset, render)
    names = usernames(db, (x["acknowledged_by"] for x in result["items"]))
    signed = signatures.of(
        db, "alert", (x["id"] for x in result["items"] if x["acknowledged_at"] is not None)
    )
    for x in result["items"]:
        x["acknowledged_by_username"] = names.get(x["acknowledged_by"])
        x["signatures"] = signed.get(x["id"], [])
    if not actor.identified_access:
        shift = deid.shifts(db)
        result["items"] = [
            deid.redact(x, shift(pid)) for x, pid in zip(result["items"], patient_ids, strict=True)
        ]
    return result


def acknowledge(
    db: Session,
    actor: Actor,
    alert_id: int,
    note: str | None,
    signature: SignatureIn | None = None,
) -> dict[str, Any]:
    """Acknowledge an alert as ``actor`` now, signed (meaning: review; see
    :mod:`raad.services.signatures`); a discharge-blocking alert needs a non-empty ``note``
    (what was done about it).

    Raises:
        NotFound, Conflict (already acknowledged, or its course is locked), InvalidInput (no
        note where one is needed; no signature), SignatureRefused (wrong credentials).
    """
    # locked until commit (PostgreSQL FOR UPDATE): of two concurrent acknowledgements the
    # second sees the first and gets 409, so no note is lost
    a = db.get(Alert, alert_id, with_for_update=True)
    if a is None:
        raise NotFound(f"alert {alert_id} not found")
    p = load(db, a.patient_id)
    can_write(actor, p.site_id)
    if a.acknowledged_at is not None:
        raise Conflict(f"alert {alert_id} was already acknowledged")
    if a.administration_id is not None:
        course = db.scalar(
            select(Course)
            .join(Administration, Administration.course_id == Course.id)
            .where(Administration.id == a.administration_id)
        )
        if course is not None and course.locked_at is not None:
            raise Conflict(
                f"alert {alert_id} belongs to course {course.id}, which is signed and locked; "
                "an admin must unlock it first"
            )
    text = (note or "").strip() or None
    if a.blocks_discharge and text is None:
        raise InvalidInput(
            "note",
            note,
            f"a note saying what was done: alert #{a.id} ({a.code}) blocks discharge, and "
            "acknowledging it needs one",
        )
    signer = signatures.check_signer(db, actor, signature)
    a.acknowledged_at = utcnow()
    a.acknowledged_by = actor.user_id
    a.acknowledgement_note = text
    db.flush()
    signed = signatures.sign(db, actor, signer, "alert", a.id, "acknowledgement", patient_id=p.id)
    view = {**views.alert(a, {actor.user_id: actor.username}), "signatures": [signed]}
    audit.record(
        db,
        actor,
        "update",
        "alert",
        a.id,
        patient_id=p.id,
        before={"acknowledged_at": None, "acknowledged_by": None, "note": None},
        after={
            "code": a.code,
            "blocks_discharge": a.blocks_discharge,
            "acknowledged_at": view["acknowledged_at"],
            "acknowledged_by": actor.user_id,
            "acknowledged_by_username": actor.username,
            "note": text,
        },
    )
    return view
