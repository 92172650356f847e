"""Storing, listing and acknowledging safety alerts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.store.core import Executor, Inserter
from raad.store.models import Alert, Patient, utcnow

from . import audit, views
from .authz import can_read, can_write
from .context import Actor
from .errors import Conflict, NotFound
from .paging import page
from .patients import load

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


def store_alert(db: Executor, raised: Any, **links: int | None) -> Any:
    """Insert one raised alert (Core) with its links (patient_id, administration_id,
    assessment_id); returns the stored row."""
    return _insert(db, **links, **alert_columns(raised))


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
    return page(db, q.order_by(Alert.id), limit, offset, views.alert)


def acknowledge(db: Session, actor: Actor, alert_id: int, note: str | None) -> dict[str, Any]:
    a = db.get(Alert, alert_id)
    if a is None:
        raise NotFound(f"alert {alert_id} not found")
    p = load(db, a.patient_id)
    can_write(actor, p.site_id)
    if a.acknowledged_at is not None:
        raise Conflict(f"alert {alert_id} was already acknowledged")
    a.acknowledged_at = utcnow()
    a.acknowledged_by = actor.user_id
    a.acknowledgement_note = note
    db.flush()
    audit.record(
        db,
        actor,
        "update",
        "alert",
        a.id,
        patient_id=p.id,
        before={"acknowledged_at": None},
        after={"acknowledged_at": a.acknowledged_at.isoformat(), "note": note},
    )
    return views.alert(a)
