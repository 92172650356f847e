"""CDS Hooks 2.0 feedback: what a clinician did with a card (accepted, or overridden with a
reason and comment), sent by the EHR to ``/cds-services/{id}/feedback``; kept per card and
shown, counted by service, outcome and reason, in the cohort view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raad.store.models import CdsFeedback

from .context import Actor
from .errors import InvalidInput

OUTCOMES = ("accepted", "overridden")
MAX_ITEMS = 100


def record(db: Session, actor: Actor, service_id: str, body: Any) -> int:
    """Store every feedback item of ``body`` (``{"feedback": [...]}``) or none: a malformed
    item is refused naming its path. Returns how many were stored."""
    items = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidInput("feedback", items, f"a list of 1 to {MAX_ITEMS} feedback items")
    rows = []
    for i, f in enumerate(items):
        where = f"feedback[{i}]"
        if not isinstance(f, dict):
            raise InvalidInput(where, f, "an object with card, outcome and outcomeTimestamp")
        card, outcome, when = f.get("card"), f.get("outcome"), f.get("outcomeTimestamp")
        if not isinstance(card, str) or not 1 <= len(card) <= 64:
            raise InvalidInput(f"{where}.card", card, "the card's uuid")
        if outcome not in OUTCOMES:
            raise InvalidInput(f"{where}.outcome", outcome, " or ".join(OUTCOMES))
        try:
            at = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{where}.outcomeTimestamp", when, "an ISO 8601 instant") from None
        if at.tzinfo is None:
            raise InvalidInput(f"{where}.outcomeTimestamp", when, "an instant with its offset")
        reason = f.get("overrideReason") or {}
        if outcome == "accepted" and reason:
            raise InvalidInput(f"{where}.overrideReason", reason, "only with outcome overridden")
        coding = reason.get("reason") if isinstance(reason, dict) else None
        comment = reason.get("userComment") if isinstance(reason, dict) else None
        if coding is not None and not isinstance(coding, dict):
            raise InvalidInput(f"{where}.overrideReason.reason", coding, "a Coding")
        if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
            raise InvalidInput(f"{where}.overrideReason.userComment", comment, "text up to 2000")
        rows.append(
            CdsFeedback(
                service_id=service_id,
                card=card,
                outcome=outcome,
                reason_code=str((coding or {}).get("code"))[:64] if coding else None,
                reason_display=str((coding or {}).get("display"))[:256] if coding else None,
                comment=comment,
                outcome_at=at,
                user_id=actor.user_id,
                site_id=actor.site_id,
            )
        )
    db.add_all(rows)
    db.flush()
    return len(rows)


def summary(db: Session, actor: Actor) -> list[dict[str, Any]]:
    """Feedback counted by service, outcome and override reason (a clinician: their site)."""
    q = select(
        CdsFeedback.service_id,
        CdsFeedback.outcome,
        CdsFeedback.reason_display,
        func.count(),
    ).group_by(CdsFeedback.service_id, CdsFeedback.outcome, CdsFeedback.reason_display)
    if actor.role == "clinician":
        q = q.where(CdsFeedback.site_id == actor.site_id)
    return [
        {"service": s, "outcome": o, "reason": r, "count": n}
        for s, o, r, n in db.execute(q.order_by(CdsFeedback.service_id, CdsFeedback.outcome))
    ]
