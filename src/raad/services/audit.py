"""The audit trail: one append-only row per create, update, delete and identified read, written
in the same transaction as the change it records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.store.core import Executor, Inserter
from raad.store.models import AuditEvent

from .authz import require_admin
from .context import Actor

_insert = Inserter(AuditEvent)  # a Core INSERT: the row is written at once, in the caller's
# transaction (no unit of work to flush)


def record(
    db: Executor,
    actor: Actor | None,
    action: str,
    entity: str,
    entity_id: Any = None,
    *,
    patient_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
) -> None:
    _insert(
        db,
        user_id=actor.user_id if actor else None,
        username=actor.username if actor else None,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        patient_id=patient_id,
        before=before,
        after=after,
        detail=detail,
    )


def researcher_read(db: Executor, actor: Actor, what: str) -> None:
    """A researcher's read (de-identified, but still a read of patients' records): every one is
    audited, with what was asked for (method and path, at most 500 characters)."""
    record(db, actor, "read", "research-view", None, detail=what[:500])


def list_events(
    db: Session,
    actor: Actor,
    *,
    patient_id: int | None = None,
    entity: str | None = None,
    action: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    require_admin(actor)
    q = select(AuditEvent)
    if patient_id is not None:
        q = q.where(AuditEvent.patient_id == patient_id)
    if entity:
        q = q.where(AuditEvent.entity == entity)
    if action:
        q = q.where(AuditEvent.action == action)
    from .paging import page

    return page(db, q.order_by(AuditEvent.id), limit, offset, _event)


def _event(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "user_id": e.user_id,
        "username": e.username,
        "action": e.action,
        "entity": e.entity,
        "entity_id": e.entity_id,
        "patient_id": e.patient_id,
        "before": e.before,
        "after": e.after,
        "detail": e.detail,
    }
