"""Idempotency keys: a retried POST with the same key gets the first response, not a duplicate.

The key and the first response are stored in the same transaction as the write they describe,
so either both are committed or neither is. They are kept for ``TTL`` (24 hours by default).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.store.models import IdempotentRequest, utcnow

from .context import Actor
from .errors import InvalidInput

# how long a stored first response is kept (it holds what the response held, identifiers
# included): a retry comes within seconds or minutes; ``raad db prune`` removes older ones
TTL = timedelta(hours=int(os.environ.get("RAAD_IDEMPOTENCY_HOURS", "24")))


def request_hash(route: str, body: Any) -> str:
    """SHA-256 of the route and the JSON body (a pydantic model is dumped first)."""
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    return hashlib.sha256(
        json.dumps([route, body], sort_keys=True, default=str).encode()
    ).hexdigest()


def _digest(actor: Actor, route: str, body: Any) -> str:
    return request_hash(route, {"body": body, "role": actor.role, "site": actor.site_id})


def replay(
    db: Session, actor: Actor, key: str | None, route: str, body: Any
) -> tuple[int, dict[str, Any]] | None:
    """The stored first response for this key and request, if a request with it committed
    (used after a refusal that a concurrent twin's commit may explain: on PostgreSQL the twin's
    record can make this one's own checks fail before its key is seen)."""
    if key is None:
        return None
    prior = db.scalar(
        select(IdempotentRequest).where(
            IdempotentRequest.user_id == actor.user_id, IdempotentRequest.key == key
        )
    )
    if (
        prior is None
        or prior.created_at < utcnow() - TTL
        or prior.route != route
        or prior.request_hash != _digest(actor, route, body)
    ):
        return None
    return prior.status_code, prior.response


def run(
    db: Session,
    actor: Actor,
    key: str | None,
    route: str,
    body: Any,
    action: Callable[[], dict[str, Any]],
    status_code: int = 201,
) -> tuple[int, dict[str, Any], bool]:
    """(status, response, replayed)."""
    if key is None:
        return status_code, action(), False
    if not 1 <= len(key) <= 128:
        raise InvalidInput("Idempotency-Key", key, "1-128 characters")
    # the caller's role and site are part of the request: a replay after either changed is a
    # new request (checked again), never the first response handed to a caller who may no
    # longer see it
    digest = _digest(actor, route, body)
    prior = db.scalar(
        select(IdempotentRequest).where(
            IdempotentRequest.user_id == actor.user_id, IdempotentRequest.key == key
        )
    )
    if prior is not None and prior.created_at < utcnow() - TTL:
        db.delete(prior)  # expired: the key may be used again, as for a new request
        db.flush()
        prior = None
    if prior is not None:
        if prior.request_hash != digest or prior.route != route:
            raise InvalidInput(
                "Idempotency-Key",
                key,
                "a new key for a different request (this one was used for another)",
            )
        return prior.status_code, prior.response, True
    response = action()
    db.add(
        IdempotentRequest(
            user_id=actor.user_id,
            key=key,
            route=route,
            request_hash=digest,
            status_code=status_code,
            response=response,
        )
    )
    db.flush()
    return status_code, response, False
