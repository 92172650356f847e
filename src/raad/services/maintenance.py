"""Upkeep of the records: what a restore means for them (a token revoked after the backup was
taken is valid again in the restored data, so every session and bearer token is revoked and the
restore is audited), and pruning what raad keeps only for a while."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from raad.store import Database
from raad.store.models import AuthToken

from . import audit


def after_restore(db: Database, source: Path) -> int:
    """Revoke every token and audit the restore; returns how many tokens were revoked."""
    with db.transaction() as s:
        n = s.execute(
            update(AuthToken).where(AuthToken.revoked.is_(False)).values(revoked=True)
        ).rowcount
        audit.record(
            s,
            None,
            "restore",
            "database",
            None,
            detail=f"restored from {Path(source).name}; {n} session(s) and token(s) revoked",
        )
    return n


def prune(db: Session, now: datetime | None = None) -> dict[str, int]:
    """Remove what raad keeps only for a while: stored first responses of idempotent requests
    older than their time to live (they hold what the response held) and bearer tokens and
    sessions that expired or were revoked more than a day ago (only their hashes are stored).
    The audit trail is never pruned. Returns how many rows of each went."""
    from sqlalchemy import delete, or_, select

    from raad.store.models import (
        IdempotentRequest,
        RateEvent,
        SmartContext,
        SmartLaunch,
        utcnow,
    )

    RATE_WINDOW_S = 60.0  # as raad.api.throttle's window (the services do not import the api)

    from .idempotency import TTL

    now = now or utcnow()
    idem = db.execute(
        delete(IdempotentRequest).where(IdempotentRequest.created_at < now - TTL)
    ).rowcount
    gone = (
        select(AuthToken.id)
        .where(
            or_(AuthToken.expires_at < now - timedelta(days=1), AuthToken.revoked.is_(True)),
            AuthToken.expires_at < now,
        )
        .scalar_subquery()
    )
    # an EHR launch's context (and the EHR's tokens) goes with the raad session it opened
    launches = (
        db.execute(delete(SmartContext).where(SmartContext.auth_token_id.in_(gone))).rowcount
        + db.execute(delete(SmartLaunch).where(SmartLaunch.expires_at < now)).rowcount
    )
    tokens = db.execute(delete(AuthToken).where(AuthToken.id.in_(gone))).rowcount
    rates = db.execute(
        delete(RateEvent).where(RateEvent.at < now - timedelta(seconds=RATE_WINDOW_S))
    ).rowcount
    from .bulk_export import purge

    exports = purge(db, now)  # research exports whose files expired
    audit.record(
        db,
        None,
        "prune",
        "database",
        None,
        detail=f"{idem} idempotency records, {tokens} tokens, {launches} EHR launch records, "
        f"{rates} rate-limit events, {exports} expired exports",
    )
    return {
        "idempotency_records": idem,
        "tokens": tokens,
        "ehr_launch_records": launches,
        "rate_events": rates,
        "bulk_exports": exports,
    }
