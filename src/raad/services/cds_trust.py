"""CDS Hooks 2.0 client authentication: an EHR signs each call with a JWT (RS384 or ES384;
CDS Hooks 2.0, "Trusting CDS Clients"), which raad checks against the EHR's public keys at its
trusted JWKS URL: the signature, ``iss`` (a trusted issuer), ``aud`` (the called service's
URL), ``exp`` (not expired), and ``jti`` (not used before by that issuer: kept until the
token expires, so a replay is refused across processes). A valid call acts as the raad
account the issuer is mapped to (a service account of one site). PyJWT does the JOSE work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raad.store.models import CdsJwtSeen, CdsTrustedIssuer, User

from . import auth
from .authz import require_admin
from .context import Actor
from .errors import InvalidInput, NotFound, Unauthorized

ALGORITHMS = ["RS384", "ES384"]
LEEWAY_S = 30  # clock skew allowed on exp/iat/nbf (seconds); raad's convention

_CLIENTS: dict[str, jwt.PyJWKClient] = {}


def looks_like_jwt(token: str) -> bool:
    """raad's own bearer tokens are URL-safe base64 without dots; a JWT has two."""
    return token.count(".") == 2


def trust(db: Session, actor: Actor | None, iss: str, jwks_url: str, username: str) -> dict:
    """Trust ``iss`` (its keys at ``jwks_url``, https or a local http URL) and map its calls to
    the raad user ``username``. ``actor`` None: the operator at the command line."""
    if actor is not None:
        require_admin(actor)
    if not iss or len(iss) > 512:
        raise InvalidInput("iss", iss, "the EHR's issuer identifier (1-512 characters)")
    local = jwks_url.startswith(("http://127.0.0.1", "http://localhost"))
    if not (jwks_url.startswith("https://") or local) or len(jwks_url) > 1024:
        raise InvalidInput("jwks_url", jwks_url, "an https:// URL (http only on localhost)")
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} not found")
    row = db.scalar(select(CdsTrustedIssuer).where(CdsTrustedIssuer.iss == iss))
    if row is None:
        row = CdsTrustedIssuer(iss=iss, jwks_url=jwks_url, user_id=user.id)
        db.add(row)
    else:
        row.jwks_url, row.user_id = jwks_url, user.id
    db.flush()
    _CLIENTS.clear()  # keys are fetched again from the (new) URL
    return {"iss": iss, "jwks_url": jwks_url, "user": username}


def trusted(db: Session) -> list[dict[str, Any]]:
    rows = db.execute(
        select(CdsTrustedIssuer.iss, CdsTrustedIssuer.jwks_url, User.username).join(
            User, User.id == CdsTrustedIssuer.user_id
        )
    ).all()
    return [{"iss": r.iss, "jwks_url": r.jwks_url, "user": r.username} for r in rows]


def verify(
    db: Session,
    token: str,
    audiences: list[str],
    *,
    keys: Callable[[str, str], Any] | None = None,
) -> Actor:
    """The actor a CDS Hooks JWT acts as, or Unauthorized saying why. ``audiences``: the URLs
    the called service is reachable at (``aud`` must be one); ``keys(jwks_url, token)``: the
    signing key (default PyJWKClient with its cache)."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"CDS Hooks JWT: not a JWT ({exc})") from None
    iss = unverified.get("iss")
    row = db.scalar(select(CdsTrustedIssuer).where(CdsTrustedIssuer.iss == iss)) if iss else None
    if row is None:
        raise Unauthorized(f"CDS Hooks JWT: issuer {iss!r} is not trusted")
    try:
        key = (keys or _signing_key)(row.jwks_url, token)
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=audiences,
            issuer=row.iss,
            leeway=LEEWAY_S,
            options={"require": ["iss", "aud", "exp", "iat", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"CDS Hooks JWT refused: {exc}") from None
    now = datetime.now(UTC)
    db.execute(delete(CdsJwtSeen).where(CdsJwtSeen.expires_at < now))
    try:
        with db.begin_nested():
            db.add(
                CdsJwtSeen(
                    iss=row.iss,
                    jti=str(claims["jti"])[:256],
                    expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                )
            )
    except IntegrityError:
        raise Unauthorized("CDS Hooks JWT refused: jti already used (a replay)") from None
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized("CDS Hooks JWT: the mapped raad account is not active")
    return auth.actor_of(user)


def _signing_key(jwks_url: str, token: str) -> Any:
    client = _CLIENTS.get(jwks_url)
    if client is None:
        client = _CLIENTS[jwks_url] = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300)
    return client.get_signing_key_from_jwt(token).key
