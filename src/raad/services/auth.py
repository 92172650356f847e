"""Users, passwords (argon2id via argon2-cffi), lock-out, bearer tokens and browser sessions.

Secrets are random (``secrets.token_urlsafe``) and only their SHA-256 digests are stored, so a
copy of the database does not give working tokens. No user or password ships with raad.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from raad.store import Database
from raad.store.core import Executor, table
from raad.store.models import AuthToken, Site, User, utcnow

from . import audit
from .authz import require_admin
from .context import ROLES, Actor
from .errors import Conflict, InvalidInput, ServiceError, Unauthorized, echo

_hasher = PasswordHasher()

MAX_FAILED_LOGINS = int(os.environ.get("RAAD_MAX_FAILED_LOGINS", "5"))
LOCKOUT = timedelta(minutes=int(os.environ.get("RAAD_LOCKOUT_MINUTES", "15")))
TOKEN_LIFETIME = timedelta(hours=int(os.environ.get("RAAD_TOKEN_HOURS", "8")))
MIN_PASSWORD = 12


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def get_or_create_site(db: Session, code: str, name: str | None = None) -> Site:
    site = db.scalar(select(Site).where(Site.code == code))
    if site is None:
        site = Site(code=code, name=name or code)
        db.add(site)
        db.flush()
    return site


def create_user(
    db: Session,
    username: str,
    password: str,
    role: str,
    site_code: str | None = None,
    *,
    actor: Actor | None = None,
) -> User:
    """A new user; ``actor`` None only for the command line run by the operator."""
    if actor is not None:
        require_admin(actor)
    if role not in ROLES:
        raise InvalidInput("role", role, f"one of {', '.join(ROLES)}")
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise InvalidInput("username", username, "1-64 letters, digits, '.', '-' or '_'")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", "(hidden)", f"at least {MIN_PASSWORD} characters")
    if role == "clinician" and not site_code:
        raise InvalidInput("site", site_code, "a site code (clinicians belong to a site)")
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    site = get_or_create_site(db, site_code) if site_code else None
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        site_id=site.id if site else None,
        active=True,
        failed_logins=0,
    )
    db.add(user)
    db.flush()
    audit.record(
        db,
        actor,
        "create",
        "user",
        user.id,
        after={"username": username, "role": role, "site": site_code},
    )
    return user


@dataclass(frozen=True)
class PasswordCheck:
    """A password verified against the hash stored when it was read (see :func:`check_password`)."""

    username: str
    password_hash: str | None  # None: no such active user
    ok: bool


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password(db: Executor, username: str, password: str) -> PasswordCheck:
    """Verify a password in a read-only transaction, before the login's write: argon2 takes
    tens of milliseconds on purpose, and no writer should wait behind it (SQLite has one)."""
    stored = db.scalar(
        select(_USER.c.password_hash).where(_USER.c.username == username, _USER.c.active.is_(True))
    )
    if stored is None:
        _hasher_dummy()
        return PasswordCheck(username, None, False)
    return PasswordCheck(username, stored, _verify(stored, password))


def authenticate(
    db: Session,
    username: str,
    password: str,
    now: datetime | None = None,
    checked: PasswordCheck | None = None,
) -> User:
    """The user if the password is right; counts failures and locks the account when too many.

    ``checked`` (from :func:`check_password`) is used when the stored hash has not changed
    since; otherwise the password is verified here. The caller must commit even when this
    raises, so that failed attempts are counted.
    """
    now = now or utcnow()
    # the row is locked until commit (PostgreSQL FOR UPDATE; SQLite writes are serial anyway),
    # so concurrent wrong guesses are all counted and the lock-out comes at the fifth
    user = db.scalar(select(User).where(User.username == username).with_for_update())
    if user is None or not user.active:
        if checked is None or checked.username != username or checked.password_hash is not None:
            _hasher_dummy()
        audit.record(
            db, None, "login-failed", "user", None, detail=f"unknown user {echo(username[:64])!r}"
        )
        raise Unauthorized("wrong username or password")
    if user.locked_until is not None and user.locked_until > now:
        audit.record(db, None, "login-locked", "user", user.id, detail=echo(username[:64]))
        raise Unauthorized("account locked after repeated failed logins; try again later")
    fresh = (
        checked is not None
        and checked.username == username
        and checked.password_hash == user.password_hash
    )
    if not (checked.ok if fresh else _verify(user.password_hash, password)):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        audit.record(db, None, "login-failed", "user", user.id, detail=echo(username[:64]))
        raise Unauthorized("wrong username or password")
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _hasher_dummy() -> None:
    """Spend the same time on unknown users as on wrong passwords."""
    with contextlib.suppress(VerificationError):
        _hasher.verify(_DUMMY, "not the password")


_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class IssuedToken:
    token: str
    csrf: str | None
    expires_at: datetime


def issue_token(db: Session, user: User, kind: str = "bearer") -> IssuedToken:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32) if kind == "cookie" else None
    expires = utcnow() + TOKEN_LIFETIME
    db.add(
        AuthToken(
            token_hash=_digest(token),
            kind=kind,
            csrf_hash=_digest(csrf) if csrf else None,
            user_id=user.id,
            expires_at=expires,
        )
    )
    audit.record(db, actor_of(user), "login", "user", user.id, detail=kind)
    return IssuedToken(token, csrf, expires)


def login(database: Database, username: str, password: str, kind: str) -> IssuedToken:
    """Check the password (read-only, outside the write lock), then in one write transaction
    count the attempt (committed even when it fails, so lock-out counts it) and issue a token."""
    with database.core_transaction(write=False) as c:
        checked = check_password(c, username, password)
    failure: ServiceError | None = None
    with database.transaction() as s:
        try:
            issued = issue_token(s, authenticate(s, username, password, checked=checked), kind)
        except ServiceError as exc:
            failure = exc
    if failure is not None:
        raise failure
    return issued


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.username, user.role, user.site_id)  # type: ignore[arg-type]


_TOK, _USER = table(AuthToken), table(User)
_TOKEN_ACTOR = (  # Core columns (not ORM attributes), so no ORM compilation or loading
    select(
        _TOK.c.kind,
        _TOK.c.csrf_hash,
        _TOK.c.expires_at,
        _TOK.c.revoked,
        _USER.c.id,
        _USER.c.username,
        _USER.c.role,
        _USER.c.site_id,
        _USER.c.active,
    )
    .join(_USER, _USER.c.id == _TOK.c.user_id)
    .where(_TOK.c.token_hash == bindparam("digest"))
)


def resolve_token(
    db: Executor, token: str, kind: str, csrf: str | None = None, need_csrf: bool = False
) -> Actor:
    """The actor a token belongs to (one indexed query joining the token to its user)."""
    row = db.execute(_TOKEN_ACTOR, {"digest": _digest(token)}).one_or_none()
    if row is None or row.revoked or row.kind != kind or row.expires_at <= utcnow():
        raise Unauthorized("invalid or expired credentials")
    if not row.active:
        raise Unauthorized("user disabled")
    if need_csrf and (csrf is None or row.csrf_hash != _digest(csrf)):
        from .errors import Forbidden

        raise Forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)")
    return Actor(row.id, row.username, row.role, row.site_id)


def revoke_token(db: Session, token: str) -> None:
    row = db.scalar(select(AuthToken).where(AuthToken.token_hash == _digest(token)))
    if row is not None and not row.revoked:
        row.revoked = True
        audit.record(db, actor_of(row.user), "logout", "user", row.user_id)
