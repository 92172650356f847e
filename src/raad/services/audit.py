"""The audit trail: one append-only row per create, update, delete, identified or researcher
read, written in the same transaction as the change it records, each row chained to the one
before by a SHA-256 hash (``verify`` recomputes the chain; ``raad audit verify``).

A row's ``content_hash`` is the SHA-256 of its own fields (:func:`content_hash`); its link is
``row_hash = SHA-256(prev_hash || content_hash)`` (:func:`link_hash`), ``prev_hash`` being the
``row_hash`` of the row before it in ``id`` order. On PostgreSQL the database makes the link when
the transaction commits (a deferred trigger under an advisory lock, revision 0018), so writers
wait for each other only for the commit itself; on SQLite, whose writers are serial, it is made
here. Rows written before revision 0018 hashed their fields and ``prev_hash`` together
(:func:`row_hash`) and are verified that way.
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.store.core import Executor, InsertBatch, Inserter, connection_of, table
from raad.store.models import AuditEvent, utcnow

from .authz import require_admin
from .context import Actor

# a Core INSERT in the caller's transaction (no unit of work); the id is not wanted back (on
# PostgreSQL the chain gives the final one at commit)
_insert = Inserter(AuditEvent, returns_id=False)


def record(
    db: Executor | InsertBatch,
    actor: Actor | None,
    action: str,
    entity: str,
    entity_id: Any = None,
    *,
    patient_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
    reason: str | None = None,
) -> None:
    """Append one row, chained to the one before it (see the module's docstring), with the
    caller's address when a request is being served (``CLIENT``) and the ``reason`` given for a
    change. In an :class:`~raad.store.core.InsertBatch` the row is sent with the batch."""
    values: dict[str, Any] = {
        "at": utcnow(),
        "user_id": actor.user_id if actor else None,
        "username": actor.username if actor else None,
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "patient_id": patient_id,
        "before": before,
        "after": after,
        "detail": detail,
        "client": CLIENT.get(),
        "reason": reason,
    }
    values["content_hash"] = content_hash(values)
    conn = connection_of(db)
    if conn.dialect.name != "postgresql":  # PostgreSQL links the row at commit
        prev = conn.execute(_LAST_HASH).scalar() or GENESIS
        values["prev_hash"] = prev
        values["row_hash"] = link_hash(prev, values["content_hash"])
    _insert(conn, **values)


CLIENT: ContextVar[str | None] = ContextVar("raad_audit_client", default=None)
GENESIS = "0" * 64  # the previous hash of the chain's first row
CHAIN_LOCK = 0x52414144  # "RAAD": the chain's advisory lock key on PostgreSQL (revision 0018)
_AE = table(AuditEvent)
_LAST_HASH = (
    select(_AE.c.row_hash).where(_AE.c.row_hash.is_not(None)).order_by(_AE.c.id.desc()).limit(1)
)
_CONTENT = (
    "at",
    "user_id",
    "username",
    "action",
    "entity",
    "entity_id",
    "patient_id",
    "before",
    "after",
    "detail",
    "client",
)
_HASHED = (*_CONTENT, "prev_hash")  # rows from before revision 0018


def _canonical(values: dict[str, Any], keys: tuple[str, ...]) -> bytes:
    """Canonical JSON of ``keys`` (sorted, no spaces, ASCII, times in UTC to the microsecond;
    ``reason`` only when one was given, as rows from before reasons were kept hashed)."""
    at = values["at"]
    if isinstance(at, datetime):
        at = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    canonical = {k: values.get(k) for k in keys} | {"at": at}
    if values.get("reason") is not None:
        canonical["reason"] = values["reason"]
    text_ = json.dumps(
        canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
    )
    return text_.encode()


def content_hash(values: dict[str, Any]) -> str:
    """SHA-256 (hex) of a row's own fields as canonical JSON: changing any field changes it."""
    return hashlib.sha256(_canonical(values, _CONTENT)).hexdigest()


def link_hash(prev_hash: str, content_hash_: str) -> str:
    """The row's link: SHA-256 (hex) of the previous row's hash and this row's content hash,
    concatenated as ASCII hex (128 characters); what the PostgreSQL trigger computes as
    ``encode(sha256(convert_to(prev_hash || content_hash, 'UTF8')), 'hex')``."""
    return hashlib.sha256((prev_hash + content_hash_).encode("ascii")).hexdigest()


def row_hash(values: dict[str, Any]) -> str:
    """The hash of a row written before revision 0018: SHA-256 (hex) of its fields and the
    previous row's hash together as canonical JSON."""
    return hashlib.sha256(_canonical(values, _HASHED)).hexdigest()


def _hash_problem(r: Any) -> str | None:
    if r["content_hash"] is None:  # written before revision 0018
        return None if row_hash(dict(r)) == r["row_hash"] else "its content does not match its hash"
    if content_hash(dict(r)) != r["content_hash"]:
        return "its content does not match its hash"
    if link_hash(r["prev_hash"], r["content_hash"]) != r["row_hash"]:
        return "its link does not match its hashes"
    return None


@dataclass(frozen=True)
class ChainCheck:
    """``rows`` read; ``unchained`` rows from before the chain began (older databases);
    ``head`` the last row's hash (note it elsewhere: removing the newest rows can only be seen
    against a head noted before); ``problems`` each break, with the row id."""

    rows: int
    unchained: int
    head: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(db: Executor, *, batch: int = 5000) -> ChainCheck:
    """Recompute the chain over every row in id order (streamed in ``batch``-row pages)."""
    rows = unchained = 0
    prev: str | None = None
    started = False
    problems: list[str] = []
    last_id = 0
    conn = connection_of(db)
    while True:
        page_ = (
            conn.execute(select(_AE).where(_AE.c.id > last_id).order_by(_AE.c.id).limit(batch))
            .mappings()
            .all()
        )
        if not page_:
            break
        for r in page_:
            rows += 1
            last_id = r["id"]
            if r["row_hash"] is None:
                if started:
                    problems.append(
                        f"row {r['id']}: no hash after the chain began (written around it)"
                    )
                else:
                    unchained += 1
                continue
            if started and r["prev_hash"] != prev:
                problems.append(
                    f"row {r['id']}: does not follow row before it (a row removed or inserted)"
                )
            elif not started and r["prev_hash"] != GENESIS:
                problems.append(
                    f"row {r['id']}: the chain's first row does not start from the genesis hash"
                )
            problem = _hash_problem(r)
            if problem:
                problems.append(f"row {r['id']}: {problem} (changed)")
            started = True
            prev = r["row_hash"]
            if len(problems) >= 100:
                return ChainCheck(rows, unchained, prev, tuple(problems))
    return ChainCheck(rows, unchained, prev, tuple(problems))


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
    entity_id: int | str | None = None,
    action: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Audit rows, oldest first, filtered by patient, record (``entity`` and ``entity_id``) and
    action (admins). The read is itself recorded (entity ``audit-trail``)."""
    require_admin(actor)
    q = select(AuditEvent)
    if patient_id is not None:
        q = q.where(AuditEvent.patient_id == patient_id)
    if entity:
        q = q.where(AuditEvent.entity == entity)
    if entity_id is not None:
        q = q.where(AuditEvent.entity_id == str(entity_id))
    if action:
        q = q.where(AuditEvent.action == action)
    from .paging import page

    result = page(db, q.order_by(AuditEvent.id), limit, offset, _event)
    # reading the trail is itself a read of who did what to whom: recorded
    asked = {"patient_id": patient_id, "entity": entity, "entity_id": entity_id, "action": action}
    record(
        db,
        actor,
        "read",
        "audit-trail",
        None,
        patient_id=patient_id,
        detail=", ".join(f"{k}={v}" for k, v in asked.items() if v is not None) or "all",
    )
    return result


def denied(db: Executor, actor: Actor, what: str, message: str) -> None:
    """A request refused for the caller's role or site (403), kept with what was asked."""
    record(db, actor, "denied", "request", None, detail=f"{what[:300]}: {message[:200]}")


def cds_call(db: Executor, actor: Actor, service_id: str, patient: str | None, cards: int) -> None:
    """A CDS Hooks call: which service, for which EHR patient (its id in the EHR), how many
    cards came back. The patient's data came from the EHR, not raad's records."""
    record(
        db,
        actor,
        "read",
        "cds-call",
        service_id[:64],
        detail=f"EHR patient {(patient or 'not given')[:64]}; {cards} card(s)",
    )


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
        "reason": e.reason,
        "client": e.client,
    }
