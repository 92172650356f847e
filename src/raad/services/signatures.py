"""Electronic signatures on records, in the manner of 21 CFR Part 11: discharging a session,
acknowledging an alert and locking a course are signed.

A signing needs the signer's own username and password again (and the two-factor code when
two-factor is on), whatever the session (11.200(a)); a wrong one signs nothing and counts toward
the lock-out like a wrong login. The signature keeps the printed name, the time (UTC), the
meaning and the words signed (11.50), and the SHA-256 of the record as signed (11.70), so
:func:`for_record` can say whether the record still matches. A signature is withdrawn (kept,
with who, when and why), never deleted. The meanings and rules are ``knowledge/esignature.yaml``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.knowledge.esignature import load_esignature
from raad.store.core import Executor, table
from raad.store.models import (
    Administration,
    Alert,
    Consent,
    ConsentDocument,
    Course,
    Signature,
    User,
    utcnow,
)

from . import audit, mfa, views
from .auth import USER_LOCK, WRONG, CredentialsRefused, password_matches, username_key
from .authz import can_write
from .context import Actor
from .errors import InvalidInput, NotFound
from .patients import load
from .schemas import SignatureIn

ENTITIES = ("session", "alert", "course", "consent")


class SignatureRefused(CredentialsRefused):
    """The credentials given to sign were wrong: nothing was signed (401; counted toward the
    lock-out by the caller, in a transaction of its own)."""


def meanings() -> dict[str, dict[str, str]]:
    """Meaning key -> its meaning and the statement the signer signs (to show before signing)."""
    return {
        k: {"meaning": m.meaning, "statement": m.statement}
        for k, m in load_esignature().meanings.items()
    }


def digest(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``record`` as canonical JSON (keys sorted, no spaces, UTF-8)."""
    text = json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content(db: Session, entity: str, entity_id: int) -> dict[str, Any]:
    """The record a signature covers, as it is now: a session, an alert, or a course with its
    sessions and their alerts.

    Raises:
        NotFound: no such record.
    """
    if entity == "session":
        a = db.get(Administration, entity_id)
        if a is None:
            raise NotFound(f"session {entity_id} not found")
        return views.administration(a)
    if entity == "alert":
        x = db.get(Alert, entity_id)
        if x is None:
            raise NotFound(f"alert {entity_id} not found")
        return views.alert(x)
    if entity == "course":
        c = db.get(Course, entity_id)
        if c is None:
            raise NotFound(f"course {entity_id} not found")
        sessions = db.scalars(
            select(Administration)
            .where(Administration.course_id == c.id)
            .order_by(Administration.id)
        ).all()
        ids = [s.id for s in sessions]
        alerts = (
            db.scalars(
                select(Alert).where(Alert.administration_id.in_(ids)).order_by(Alert.id)
            ).all()
            if ids
            else []
        )
        return {
            "course": views.course(c),
            "sessions": [views.administration(s) for s in sessions],
            "alerts": [views.alert(x) for x in alerts],
        }
    if entity == "consent":
        c = db.get(Consent, entity_id)
        if c is None:
            raise NotFound(f"consent {entity_id} not found")
        d = db.get(ConsentDocument, c.document_id)
        assert d is not None
        return {
            "consent": {
                "id": c.id,
                "patient_id": c.patient_id,
                "patient_name": c.patient_name,
                "signed_at": c.signed_at.isoformat(),
                "pdf_sha256": c.pdf_sha256,
            },
            "document": {
                "id": d.id,
                "agent": d.agent,
                "version": d.version,
                "title": d.title,
                "body": d.body,
            },
        }
    raise InvalidInput("entity", entity, f"one of {', '.join(ENTITIES)}")


def check_signer(db: Session, actor: Actor, credentials: SignatureIn | None) -> User:
    """The signer's account, if ``credentials`` are the actor's own and right.

    Raises:
        InvalidInput: no credentials were given (field ``signature``).
        SignatureRefused: another user's name, a wrong password or two-factor code, or a
            locked account (the same words as a wrong login).
    """
    if credentials is None:
        raise InvalidInput(
            "signature",
            None,
            "your username and password (and two-factor code, if on) to sign: "
            + "; ".join(f"{k}: {m['statement']}" for k, m in meanings().items()),
        )
    user = db.get(User, actor.user_id, with_for_update=USER_LOCK)
    if user is None or not user.active:
        raise SignatureRefused(WRONG)
    if username_key(credentials.username) != username_key(user.username):
        raise SignatureRefused(
            "a signature is made with your own username: "
            f"{credentials.username[:64]!r} is not the user logged in"
        )
    if user.locked_until is not None and user.locked_until > utcnow():
        raise SignatureRefused(WRONG)
    ok = password_matches(user.password_hash, credentials.password)
    if ok and user.totp_enabled and not mfa.accept(user, credentials.otp):
        ok = False
    if not ok:
        raise SignatureRefused(
            "the password (or two-factor code) is wrong: nothing was signed or changed"
        )
    user.failed_logins = 0  # the right password, as at a login
    return user


def sign(
    db: Session,
    actor: Actor,
    user: User,
    entity: str,
    entity_id: int,
    meaning: str,
    *,
    patient_id: int | None = None,
    at: Any = None,
) -> dict[str, Any]:
    """Sign the record (its changes flushed) as ``user`` (from :func:`check_signer`) with the
    meaning ``meaning`` (a key of ``knowledge/esignature.yaml``); audited. Returns the
    signature as shown (see :func:`manifestation`)."""
    m = load_esignature().meanings[meaning]  # type: ignore[index]
    db.flush()
    row = Signature(
        entity=entity,
        entity_id=entity_id,
        meaning=meaning,
        statement=m.statement,
        user_id=user.id,
        username=user.username,
        printed_name=(user.full_name or "").strip() or user.username,
        signed_at=at or utcnow(),
        record_sha256=digest(content(db, entity, entity_id)),
        client=audit.CLIENT.get(),
    )
    db.add(row)
    db.flush()
    shown = manifestation(row)
    audit.record(db, actor, "sign", entity, entity_id, patient_id=patient_id, after=shown)
    return shown


def manifestation(s: Any, matches: bool | None = None) -> dict[str, Any]:
    """A signature as shown with the record (11.50): printed name, time, meaning, statement;
    ``record_matches`` when it was checked."""
    out: dict[str, Any] = {
        "id": s.id,
        "meaning": s.meaning,
        "meaning_label": load_esignature().meanings[s.meaning].meaning,  # type: ignore[index]
        "statement": s.statement,
        "printed_name": s.printed_name,
        "username": s.username,
        "signed_at": s.signed_at.isoformat(),
        "record_sha256": s.record_sha256,
        "withdrawn_at": s.withdrawn_at.isoformat() if s.withdrawn_at else None,
        "withdrawn_reason": s.withdrawn_reason,
    }
    if matches is not None:
        out["record_matches"] = matches
    return out


_SIG = table(Signature)


def of(db: Executor, entity: str, ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Record id -> its signatures as shown (oldest first), for records of one kind (a Core
    query: works in the ORM and in Core transactions)."""
    wanted = sorted({i for i in ids if i is not None})
    out: dict[int, list[dict[str, Any]]] = {}
    if not wanted:
        return out
    rows = db.execute(
        select(_SIG)
        .where(_SIG.c.entity == entity, _SIG.c.entity_id.in_(wanted))
        .order_by(_SIG.c.id)
    )
    for s in rows:
        out.setdefault(s.entity_id, []).append(manifestation(s))
    return out


def _patient_of(db: Session, entity: str, entity_id: int) -> int:
    row: Any = {
        "session": Administration,
        "alert": Alert,
        "course": Course,
        "consent": Consent,
    }.get(entity)
    if row is None:
        raise InvalidInput("entity", entity, f"one of {', '.join(ENTITIES)}")
    found = db.get(row, entity_id)
    if found is None:
        raise NotFound(f"{entity} {entity_id} not found")
    return found.patient_id


def for_record(db: Session, actor: Actor, entity: str, entity_id: int) -> dict[str, Any]:
    """The signatures on one record, each checked against the record as it is now
    (``record_matches``: false when the record changed after signing). Clinicians of the
    record's site and admins."""
    p = load(db, _patient_of(db, entity, entity_id))
    can_write(actor, p.site_id)
    now = digest(content(db, entity, entity_id))
    rows = db.scalars(
        select(Signature)
        .where(Signature.entity == entity, Signature.entity_id == entity_id)
        .order_by(Signature.id)
    )
    return {
        "entity": entity,
        "entity_id": entity_id,
        "record_sha256": now,
        "signatures": [manifestation(s, s.record_sha256 == now) for s in rows],
    }


def withdraw(
    db: Session, actor: Actor, entity: str, entity_id: int, meaning: str, reason: str
) -> list[int]:
    """Mark the live signatures of ``meaning`` on a record withdrawn (kept, with who, when and
    why); returns their ids."""
    ids = []
    for s in db.scalars(
        select(Signature).where(
            Signature.entity == entity,
            Signature.entity_id == entity_id,
            Signature.meaning == meaning,
            Signature.withdrawn_at.is_(None),
        )
    ):
        s.withdrawn_at = utcnow()
        s.withdrawn_by = actor.user_id
        s.withdrawn_reason = reason
        ids.append(s.id)
    return ids
