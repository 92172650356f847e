"""The outbox: messages to patients (e-mail, SMS) written in the transaction that makes them
due, then delivered by a sender outside any transaction. Nothing is lost if the process dies:
a message stays pending until a sender marks it sent.

Delivery of one message: claim it (pending -> sending, in its own transaction, so two workers
never take the same one), send it, mark it (sent, with the body cleared because it holds a live
link; or back to pending with a later attempt; or failed after ``MAX_ATTEMPTS``). A process
that dies between sending and marking leaves the message in ``sending``. After ``LEASE`` it is
recovered: a sender whose provider drops a repeated message key (``idempotent``: the SMS
adapter sends the key as ``Idempotency-Key``) sends it again, which the provider ignores if
the first went out; a sender without that guarantee (SMTP) marks it ``unknown`` and does not
send it again, so no patient gets the same text twice; an admin can see and requeue it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from raad.store.models import OutboxMessage, PatientIdentity, SelfReportLink, utcnow

from . import audit

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=10)  # a claimed message not marked by then is recovered
MARK_EVERY = 25  # sent messages are marked in groups this large
WORKER = f"{socket.gethostname()}:{__import__('os').getpid()}"


class Sender(Protocol):
    """A channel's sender: ``send`` returns the provider's id for the message (or None) and
    raises on failure; ``idempotent``: the provider drops a repeated ``key``."""

    channel: str
    idempotent: bool

    def send(self, key: str, recipient: str, subject: str | None, body: str) -> str | None: ...


def enqueue(
    db: Session,
    *,
    key: str,
    link_id: int | None,
    kind: str,
    channel: str,
    recipient: str,
    subject: str | None,
    body: str,
    when: datetime,
) -> OutboxMessage:
    """Add a message (in the caller's transaction); ``key`` is unique per message."""
    m = OutboxMessage(
        message_key=key,
        link_id=link_id,
        kind=kind,
        channel=channel,
        recipient=recipient,
        subject=subject,
        body=body,
        status="pending",
        attempts=0,
        next_attempt_at=when,
        created_at=when,
    )
    db.add(m)
    db.flush()
    return m


def cancel_for_link(db: Session, link_id: int, why: str) -> int:
    """Cancel the link's messages not sent yet (answered, withdrawn); their bodies, which
    hold live links, are cleared. Returns how many."""
    return _cancel(db, OutboxMessage.link_id == link_id, why)


def cancel_for_patient(db: Session, patient_id: int, why: str) -> int:
    """Cancel every message not sent yet to the patient (consent withdrawn, contact
    changed)."""
    links = select(SelfReportLink.id).where(SelfReportLink.patient_id == patient_id)
    return _cancel(db, OutboxMessage.link_id.in_(links), why)


def _cancel(db: Session, where: Any, why: str) -> int:
    return db.execute(
        update(OutboxMessage)
        .where(where, OutboxMessage.status.in_(("pending", "failed", "unknown")))
        .values(status="cancelled", body=None, last_error=why)
        .execution_options(synchronize_session=False)
    ).rowcount


def was_sent(db: Session, key: str) -> bool:
    return db.scalar(select(OutboxMessage.status).where(OutboxMessage.message_key == key)) == "sent"


def claim(db: Session, now: datetime, limit: int = 100, worker: str = WORKER) -> list[int]:
    """Take up to ``limit`` due pending messages for ``worker`` (pending -> sending) in one
    conditional UPDATE; a message another worker took first is not returned."""
    ids = db.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    ).all()
    if not ids:
        return []
    taken = db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
        .values(
            status="sending",
            claimed_at=now,
            claimed_by=worker,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).scalars()
    return sorted(taken)


def recover(db: Session, now: datetime, senders: dict[str, Sender]) -> dict[str, int]:
    """Messages left in ``sending`` longer than ``LEASE`` (a process died mid-send): back to
    pending when the channel's sender is idempotent, else ``unknown`` (not sent again)."""
    stale = db.scalars(
        select(OutboxMessage).where(
            OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - LEASE
        )
    ).all()
    out = {"requeued": 0, "unknown": 0}
    for m in stale:
        sender = senders.get(m.channel)
        if sender is not None and sender.idempotent:
            m.status, m.next_attempt_at = "pending", now
            out["requeued"] += 1
        else:
            m.status = "unknown"
            m.last_error = (
                "the process stopped between sending and recording it: it may or may not have "
                "gone out, so it is not sent again (requeue it by hand if it did not)"
            )
            out["unknown"] += 1
    return out


def _claimed(db: Session, ids: list[int]) -> list[Any]:
    """The claimed messages still worth sending, with what the audit needs; a message whose
    link has closed or whose patient no longer agrees to this channel and address is
    cancelled here (the last check before it leaves)."""
    if not ids:
        return []
    rows = db.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.channel,
            OutboxMessage.kind,
            OutboxMessage.link_id,
            SelfReportLink.patient_id,
            OutboxMessage.message_key,
            OutboxMessage.recipient,
            OutboxMessage.subject,
            OutboxMessage.body,
            OutboxMessage.attempts,
        )
        .outerjoin(SelfReportLink, SelfReportLink.id == OutboxMessage.link_id)
        .where(OutboxMessage.id.in_(ids))
    ).all()
    now = utcnow()
    links = {
        x.id: x
        for x in db.scalars(
            select(SelfReportLink).where(
                SelfReportLink.id.in_({r.link_id for r in rows if r.link_id is not None})
            )
        )
    }
    people = {
        x.patient_id: x
        for x in db.scalars(
            select(PatientIdentity).where(
                PatientIdentity.patient_id.in_({r.patient_id for r in rows if r.patient_id})
            )
        )
    }
    keep, drop = [], []
    for r in rows:
        link = links.get(r.link_id) if r.link_id is not None else None
        ident = people.get(r.patient_id) if r.patient_id is not None else None
        if link is not None and (
            link.used_at is not None or link.revoked_at is not None or link.expires_at <= now
        ):
            drop.append((r.id, "the link closed before the message went"))
        elif ident is not None and (
            ident.contact_channel != r.channel
            or ident.contact_consent_at is None
            or r.recipient not in (ident.email, ident.phone)
        ):
            drop.append((r.id, "the patient's contact or consent changed"))
        else:
            keep.append(r)
    for mid, why in drop:
        db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == mid)
            .values(status="cancelled", body=None, last_error=why)
            .execution_options(synchronize_session=False)
        )
    return keep


def deliver(
    transaction: Callable[[], Any],
    senders: dict[str, Sender],
    now: Callable[[], datetime] = utcnow,
    limit: int = 100,
    worker: str = WORKER,
    mark_every: int = MARK_EVERY,
) -> dict[str, int]:
    """Claim, send and mark up to ``limit`` due messages. ``transaction()``: a context manager
    giving a write Session (raad's ``Database.transaction``). Sending happens outside any
    transaction; sent messages are marked ``mark_every`` at a time (a crash can leave that
    many in ``sending``, which ``recover`` handles without a duplicate). Returns counts by
    outcome."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    with transaction() as s:
        jobs = _claimed(s, claim(s, now(), limit, worker))
    sent: list[dict[str, Any]] = []

    def mark() -> None:
        if sent:
            with transaction() as s:
                s.connection().execute(
                    update(OutboxMessage.__table__)
                    .where(OutboxMessage.__table__.c.id == bindparam("mid"))
                    .values(
                        status="sent",
                        sent_at=bindparam("at"),
                        provider_id=bindparam("pid"),
                        body=None,
                    ),
                    [{k: v for k, v in m.items() if k != "job"} for m in sent],
                )
                for m in sent:  # each delivery in the audit trail (channel, not the address)
                    job = m["job"]
                    if job.link_id is not None:
                        audit.record(
                            s,
                            None,
                            "deliver",
                            "self-report-link",
                            job.link_id,
                            patient_id=job.patient_id,
                            detail=f"{job.kind} sent by {job.channel}",
                        )
            counts["sent"] += len(sent)
            sent.clear()

    for m in jobs:
        sender = senders.get(m.channel)
        try:
            if sender is None:
                raise RuntimeError(f"no sender configured for {m.channel}")
            provider_id = sender.send(m.message_key, m.recipient, m.subject, m.body or "")
        except Exception as exc:
            mark()
            with transaction() as s:
                row = s.get(OutboxMessage, m.id)
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if m.attempts >= MAX_ATTEMPTS:
                    row.status, row.body = "failed", None  # the live link goes with it
                    counts["failed"] += 1
                else:
                    row.status = "pending"
                    row.next_attempt_at = now() + timedelta(minutes=2**m.attempts)
                    counts["retry"] += 1
            continue
        sent.append({"mid": m.id, "at": now(), "pid": provider_id, "job": m})
        if len(sent) >= mark_every:
            mark()
    mark()
    return counts


def failed(db: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Messages that failed or whose fate is unknown, newest first (no address or body)."""
    rows = db.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status.in_(("failed", "unknown")))
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": m.id,
            "link_id": m.link_id,
            "kind": m.kind,
            "channel": m.channel,
            "status": m.status,
            "attempts": m.attempts,
            "last_error": m.last_error,
        }
        for m in rows
    ]


def summary(db: Session) -> dict[str, int]:
    """How many messages are in each state."""
    rows = db.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ).all()
    return {status: n for status, n in rows}
