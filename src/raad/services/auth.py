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
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from raad.store import Database
from raad.store.core import Executor, table
from raad.store.models import AuthToken, Site, User, utcnow

from . import audit, mfa, passwords
from .authz import require_admin
from .context import ROLES, Actor
from .errors import Conflict, InvalidInput, ServiceError, Unauthorized, echo

_hasher = PasswordHasher()

MAX_FAILED_LOGINS = int(os.environ.get("RAAD_MAX_FAILED_LOGINS", "5"))
LOCKOUT = timedelta(minutes=int(os.environ.get("RAAD_LOCKOUT_MINUTES", "15")))
TOKEN_LIFETIME = timedelta(hours=int(os.environ.get("RAAD_TOKEN_HOURS", "8")))  # absolute
# a token or session unused this long ends (its last use is kept to within TOUCH_EVERY)
IDLE_TIMEOUT = timedelta(minutes=int(os.environ.get("RAAD_IDLE_MINUTES", "30")))
TOUCH_EVERY = timedelta(minutes=2)
MIN_PASSWORD = passwords.MIN_LENGTH


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(passwords.normalise(password))


USERNAME_RULE = "1-64 ASCII letters, digits, '.', '-' or '_' (case does not matter)"
# A user row is locked with PostgreSQL's FOR NO KEY UPDATE, not FOR UPDATE: every audit row
# (and signature) names its user by a foreign key, whose check takes FOR KEY SHARE on the user
# row; FOR UPDATE would block that check while this transaction waits for the audit trail's
# lock, and two requests of one user would deadlock (found under load by schemathesis).
USER_LOCK = {"key_share": True}

WRONG = "wrong username or password, or the account is locked after repeated failures"


def username_key(username: str) -> str:
    """The form a username is stored and compared in: lower case, so "ADM" is "adm". Only
    ASCII letters are allowed, so no look-alike from another script (a Cyrillic "a", U+0430) can pose
    as another user's name."""
    key = username.strip()
    # lower-casing only ASCII: "\u212a" (KELVIN SIGN) lower-cases to an ASCII "k" and must not
    # log in as, or be created beside, a "k..." user
    return key.lower() if key.isascii() else key


# UTS #39 confusables among the characters a username may hold (after lower-casing), from
# Unicode's confusables.txt (security data for UTS #39; the lines whose source and prototype are
# both ASCII: "1" -> "l", "0" -> "O", "m" -> "rn"; "I" and "|" cannot occur here). Two names
# with the same skeleton look alike ("adm1n" and "admln", "rnary" and "mary").
# https://www.unicode.org/reports/tr39/#Confusable_Detection
_CONFUSABLE = str.maketrans({"1": "l", "0": "o", "m": "rn"})


def username_skeleton(key: str) -> str:
    """The UTS #39 skeleton of a (lower-cased, ASCII) username: names with the same skeleton
    look alike and cannot both exist."""
    return key.translate(_CONFUSABLE)


def _check_username(username: str) -> str:
    key = username_key(username) if isinstance(username, str) else ""
    if (
        not key
        or len(key) > 64
        or not key.isascii()
        or not key.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise InvalidInput("username", echo(username), USERNAME_RULE)
    return key


SITE_RULE = "1-32 ASCII letters, digits, '.', '-' or '_'"


def _site_for(db: Session, actor: Actor | None, code: str) -> Site:
    """The site a user is put in: an existing one when an admin does it (a typo must not make a
    new clinic); the operator on the command line may create it."""
    if actor is None:
        return get_or_create_site(db, code)
    site = db.scalar(select(Site).where(Site.code == code))
    if site is None:
        known = ", ".join(db.scalars(select(Site.code).order_by(Site.code)).all()[:50])
        raise InvalidInput("site", echo(code), f"an existing site code ({known})")
    return site


def get_or_create_site(db: Session, code: str, name: str | None = None) -> Site:
    """The site with this code, created if new (a code of 1-32 ASCII letters, digits, '.',
    '-' or '_': it is shown and typed wherever a site is named).

    Raises:
        InvalidInput: a code outside that rule (field ``site``).
    """
    site = db.scalar(select(Site).where(Site.code == code))
    if site is None:
        if (
            not isinstance(code, str)
            or not 1 <= len(code) <= 32
            or not code.isascii()
            or not code.replace(".", "").replace("-", "").replace("_", "").isalnum()
        ):
            raise InvalidInput("site", echo(code), SITE_RULE)
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
    full_name: str | None = None,
) -> User:
    """A new user; ``actor`` None only for the command line run by the operator. ``full_name``
    is the printed name the user's electronic signatures carry."""
    if actor is not None:
        require_admin(actor)
    if role not in ROLES:
        raise InvalidInput("role", role, f"one of {', '.join(ROLES)}")
    username = _check_username(username)
    passwords.check(password, username)
    if role == "clinician" and not site_code:
        raise InvalidInput("site", site_code, "a site code (clinicians belong to a site)")
    if _find(db, username) is not None:
        raise Conflict(f"user {username!r} already exists (names are compared without case)")
    skeleton = username_skeleton(username)
    for other in db.scalars(select(User.username)):
        if username_skeleton(username_key(other)) == skeleton:
            raise Conflict(
                f"user {username!r} would look like the existing user {other!r} "
                "(1/l, 0/o and rn/m are confused on screen; Unicode UTS #39): choose another name"
            )
    site = _site_for(db, actor, site_code) if site_code else None
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        site_id=site.id if site else None,
        active=True,
        failed_logins=0,
        full_name=_full_name(full_name),
    )
    db.add(user)
    db.flush()
    audit.record(
        db,
        actor,
        "create",
        "user",
        user.id,
        after={"username": username, "role": role, "site": site_code, "full_name": user.full_name},
    )
    return user


def _full_name(value: str | None) -> str | None:
    """A printed name: 1-200 characters, no control characters; blank means none."""
    if value is None or not value.strip():
        return None
    name = " ".join(value.split())
    if len(name) > 200 or any(not c.isprintable() for c in name):
        raise InvalidInput("full_name", value, "a name of up to 200 printable characters")
    return name


@dataclass(frozen=True)
class PasswordCheck:
    """A password verified against the hash stored when it was read (see :func:`check_password`)."""

    username: str
    password_hash: str | None  # None: no such active user
    ok: bool


def password_matches(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches the stored argon2 hash."""
    return _verify(password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    """NFKC first (how raad hashes); the password as typed for hashes made before that."""
    for candidate in dict.fromkeys((passwords.normalise(password), password)):
        try:
            if _hasher.verify(password_hash, candidate):
                return True
        except (VerificationError, InvalidHashError):
            continue
    return False


def _find(db: Executor, username: str, *, lock: bool = False) -> User | None:
    """The user called ``username`` whatever its case (an exact match first, for names stored
    before names were compared without case)."""
    key = username_key(username)
    q = select(User).where(func.lower(User.username) == key)
    if lock:
        q = q.with_for_update(key_share=True)
    found = list(db.scalars(q))
    return next((u for u in found if u.username == username), found[0] if found else None)


def check_password(db: Executor, username: str, password: str) -> PasswordCheck:
    """Verify a password in a read-only transaction, before the login's write: argon2 takes
    tens of milliseconds on purpose, and no writer should wait behind it (SQLite has one)."""
    stored = db.scalar(
        select(_USER.c.password_hash)
        .where(func.lower(_USER.c.username) == username_key(username), _USER.c.active.is_(True))
        .order_by((_USER.c.username == username).desc())
        .limit(1)
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
    otp: str | None = None,
) -> User:
    """The user if the password (and, when enrolled, the two-factor code ``otp``) is right;
    counts failures and locks the account when too many. An admin without two-factor is
    refused while ``mfa.REQUIRE_FOR_ADMINS`` holds.

    ``checked`` (from :func:`check_password`) is used when the stored hash has not changed
    since; otherwise the password is verified here. The caller must commit even when this
    raises, so that failed attempts are counted.
    """
    now = now or utcnow()
    # the row is locked until commit (PostgreSQL FOR UPDATE; SQLite writes are serial anyway),
    # so concurrent wrong guesses are all counted and the lock-out comes at the fifth
    user = _find(db, username, lock=True)
    if user is None or not user.active:
        if checked is None or checked.username != username or checked.password_hash is not None:
            _hasher_dummy()
        audit.record(
            db, None, "login-failed", "user", None, detail=f"unknown user {echo(username[:64])!r}"
        )
        raise Unauthorized(WRONG)
    if user.locked_until is not None and user.locked_until > now:
        # the same words as for a wrong password: the answer never tells an account exists
        audit.record(db, None, "login-locked", "user", user.id, detail=echo(username[:64]))
        raise Unauthorized(WRONG)
    fresh = (
        checked is not None
        and checked.username == username
        and checked.password_hash == user.password_hash
    )
    password_ok = checked.ok if fresh else _verify(user.password_hash, password)
    if password_ok and user.totp_enabled and not mfa.accept(user, otp):
        password_ok = False  # a wrong or missing code counts as a failed attempt, said alike
    if not password_ok:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        audit.record(db, None, "login-failed", "user", user.id, detail=echo(username[:64]))
        raise Unauthorized(WRONG)
    if not user.totp_enabled and mfa.required(user):
        audit.record(db, None, "login-refused", "user", user.id, detail="admin without two-factor")
        raise Unauthorized(
            "admins need two-factor authentication: ask the operator to run "
            f"'raad user mfa-enrol {user.username}' on the server"
        )
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


def login(
    database: Database, username: str, password: str, kind: str, otp: str | None = None
) -> IssuedToken:
    """Check the password (read-only, outside the write lock), then in one write transaction
    count the attempt (committed even when it fails, so lock-out counts it) and issue a token."""
    with database.core_transaction(write=False) as c:
        checked = check_password(c, username, password)
    failure: ServiceError | None = None
    with database.transaction() as s:
        try:
            user = authenticate(s, username, password, checked=checked, otp=otp)
            issued = issue_token(s, user, kind)
        except ServiceError as exc:
            failure = exc
    if failure is not None:
        raise failure
    return issued


def actor_of(user: User) -> Actor:
    zone = (user.site.time_zone if user.site is not None else None) or "UTC"
    return Actor(user.id, user.username, user.role, user.site_id, zone)  # type: ignore[arg-type]


def site_view(site: Site) -> dict[str, Any]:
    return {
        "code": site.code,
        "name": site.name,
        "time_zone": site.time_zone or "UTC",
        "self_report": bool(site.self_report),
        "crisis_text": site.crisis_text,
        "monitored_in_real_time": bool(site.monitored_in_real_time),
    }


def list_sites(db: Session, actor: Actor) -> list[dict[str, Any]]:
    """Every site with its settings (admins)."""
    require_admin(actor)
    return [site_view(s) for s in db.scalars(select(Site).order_by(Site.code))]


def update_site(
    db: Session, actor: Actor | None, code: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change a site's settings (admins or the operator), audited: ``time_zone`` (see
    ``set_time_zone``), ``self_report`` (patients may be sent questionnaires from home),
    ``crisis_text`` (what a patient is shown after a positive suicide item: required before
    self-report is turned on) and ``monitored_in_real_time`` (whether anyone reads answers as
    they arrive; patients are told either way)."""
    from .errors import NotFound

    if actor is not None:
        require_admin(actor)
    site = db.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise NotFound(f"site {code!r} not found")
    if "time_zone" in changes and changes["time_zone"] is not None:
        set_time_zone(db, actor, code, changes["time_zone"])
    before = site_view(site)
    if "crisis_text" in changes:
        text_ = (changes["crisis_text"] or "").strip()
        site.crisis_text = text_ or None
    if changes.get("monitored_in_real_time") is not None:
        site.monitored_in_real_time = bool(changes["monitored_in_real_time"])
    if changes.get("self_report") is not None:
        site.self_report = bool(changes["self_report"])
    if site.self_report and not any(c.isalnum() for c in site.crisis_text or ""):
        raise InvalidInput(
            "crisis_text",
            site.crisis_text,
            "the crisis resources a patient is shown after a positive suicide item (phone "
            "numbers, what to do): required while self-report is on",
        )
    after = site_view(site)
    if after != before:
        db.flush()
        audit.record(db, actor, "update", "site", site.id, before=before, after=after)
    return after


def set_time_zone(db: Session, actor: Actor | None, code: str, zone: str) -> dict[str, Any]:
    """A site's time zone (an IANA name such as Europe/London; admins or the operator); times
    stay stored in UTC and are shown and typed in it. Audited."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    from .errors import NotFound

    if actor is not None:
        require_admin(actor)
    site = db.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise NotFound(f"site {code!r} not found")
    try:
        if zone not in available_timezones():
            raise ZoneInfoNotFoundError(zone)
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            "time_zone", zone, "an IANA time zone name, e.g. Europe/London or America/New_York"
        ) from None
    before = site.time_zone
    site.time_zone = zone
    db.flush()
    audit.record(
        db,
        actor,
        "update",
        "site",
        site.id,
        before={"time_zone": before},
        after={"time_zone": zone},
    )
    return {"code": site.code, "name": site.name, "time_zone": zone}


_TOK, _USER, _SITE = table(AuthToken), table(User), table(Site)
_TOKEN_ACTOR = (  # Core columns (not ORM attributes), so no ORM compilation or loading
    select(
        _TOK.c.kind,
        _TOK.c.csrf_hash,
        _TOK.c.expires_at,
        _TOK.c.revoked,
        _TOK.c.created_at,
        _TOK.c.last_seen_at,
        _USER.c.id,
        _USER.c.username,
        _USER.c.role,
        _USER.c.site_id,
        _USER.c.active,
        _SITE.c.time_zone,
    )
    .join(_USER, _USER.c.id == _TOK.c.user_id)
    .outerjoin(_SITE, _SITE.c.id == _USER.c.site_id)
    .where(_TOK.c.token_hash == bindparam("digest"))
)


def resolve_token(
    db: Executor, token: str, kind: str, csrf: str | None = None, need_csrf: bool = False
) -> Actor:
    """The actor a token belongs to (one indexed query joining the token to its user)."""
    return resolve(db, token, kind, csrf, need_csrf)[0]


def resolve(
    db: Executor, token: str, kind: str, csrf: str | None = None, need_csrf: bool = False
) -> tuple[Actor, bool]:
    """:func:`resolve_token`, and whether the token's last use is older than ``TOUCH_EVERY``
    (then :func:`touch` it), from the same query."""
    row = db.execute(_TOKEN_ACTOR, {"digest": _digest(token)}).one_or_none()
    now = utcnow()
    if row is None or row.revoked or row.kind != kind or row.expires_at <= now:
        raise Unauthorized("invalid or expired credentials")
    seen = row.last_seen_at or row.created_at
    if seen + IDLE_TIMEOUT <= now:
        raise Unauthorized(
            f"the session ended after {IDLE_TIMEOUT.seconds // 60} minutes without use: log in again"
        )
    if not row.active:
        raise Unauthorized("user disabled")
    if need_csrf and (csrf is None or row.csrf_hash != _digest(csrf)):
        from .errors import Forbidden

        raise Forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)")
    actor = Actor(row.id, row.username, row.role, row.site_id, row.time_zone or "UTC")
    return actor, seen + TOUCH_EVERY <= now


def touch(db: Executor, token: str) -> None:
    """Record a use of the token now (a short write of its own, after the request's work)."""
    db.execute(
        update(AuthToken)
        .where(AuthToken.token_hash == _digest(token))
        .values(last_seen_at=utcnow())
    )


def revoke_token(db: Session, token: str) -> None:
    row = db.scalar(select(AuthToken).where(AuthToken.token_hash == _digest(token)))
    if row is not None and not row.revoked:
        row.revoked = True
        audit.record(db, actor_of(row.user), "logout", "user", row.user_id)


def _user_view(u: User, site_codes: dict[int, str]) -> dict[str, Any]:
    return {
        "username": u.username,
        "full_name": u.full_name,
        "role": u.role,
        "site": site_codes.get(u.site_id) if u.site_id else None,
        "active": u.active,
        "locked_until": u.locked_until.isoformat() if u.locked_until else None,
        "failed_logins": u.failed_logins,
        "mfa": bool(u.totp_enabled),
        "created_at": u.created_at.isoformat(),
    }


def _sites(db: Session) -> dict[int, str]:
    return {s.id: s.code for s in db.scalars(select(Site))}


def own_account(db: Session, actor: Actor) -> dict[str, Any]:
    """The caller's own account as an admin sees it in the user list (any role)."""
    user = db.get(User, actor.user_id)
    if user is None:
        raise Unauthorized(WRONG)
    return _user_view(user, _sites(db))


def list_users(db: Session, actor: Actor | None) -> list[dict[str, Any]]:
    """Every user (admins; ``actor`` None: the operator on the command line)."""
    if actor is not None:
        require_admin(actor)
    sites = _sites(db)
    return [_user_view(u, sites) for u in db.scalars(select(User).order_by(User.username))]


def update_user(
    db: Session,
    actor: Actor | None,
    username: str,
    *,
    active: bool | None = None,
    role: str | None = None,
    site_code: str | None = None,
    unlock: bool = False,
    password: str | None = None,
    full_name: str | None = None,
) -> dict[str, Any]:
    """Disable or enable an account, change its role or site, unlock it after failed logins or
    set a new password (admins, or the operator). Disabling, a new role or site, and a new
    password end the user's open sessions (their tokens are revoked). Audited with before/after.

    Raises:
        NotFound: no such user. InvalidInput: an unknown role, a clinician without a site, a
            password the policy refuses. Conflict: an admin disabling or demoting themself.
    """
    from .errors import NotFound

    if actor is not None:
        require_admin(actor)
    user = _find(db, username, lock=True)
    if user is None:
        raise NotFound(f"user {username!r} not found")
    sites = _sites(db)
    before = _user_view(user, sites)
    if (
        actor is not None
        and user.id == actor.user_id
        and (active is False or role not in (None, "admin"))
    ):
        raise Conflict("an admin cannot disable or demote themself; ask another admin")
    end_sessions = False
    if role is not None:
        if role not in ROLES:
            raise InvalidInput("role", role, f"one of {', '.join(ROLES)}")
        end_sessions |= role != user.role
        user.role = role
    if site_code is not None:
        site = _site_for(db, actor, site_code)
        end_sessions |= site.id != user.site_id
        user.site_id = site.id
    if user.role == "clinician" and user.site_id is None:
        raise InvalidInput("site", None, "a site code (clinicians belong to a site)")
    if active is not None:
        end_sessions |= user.active and not active
        user.active = active
    if full_name is not None:
        user.full_name = _full_name(full_name)
    if unlock:
        user.locked_until = None
        user.failed_logins = 0
    if password is not None:
        user.password_hash = hash_password(passwords.check(password, user.username))
        end_sessions = True
    if end_sessions:
        _revoke_all(db, user.id)
    db.flush()
    after = _user_view(user, _sites(db))
    audit.record(
        db,
        actor,
        "update",
        "user",
        user.id,
        before=before,
        after=after | ({"password": "changed"} if password is not None else {}),
    )
    return after


def change_own_password(db: Session, actor: Actor, current: str, new: str) -> None:
    """A user's own password change: the current password first; other sessions end."""
    user = db.get(User, actor.user_id, with_for_update=USER_LOCK)
    if user is None or (user.locked_until is not None and user.locked_until > utcnow()):
        raise Unauthorized(WRONG)
    if not _verify(user.password_hash, current):
        # a failed attempt like a wrong login: the caller counts it in its own transaction
        # (this one rolls back) with count_failed_attempt
        raise WrongCurrentPassword("the current password is wrong")
    if _verify(user.password_hash, new):
        raise InvalidInput("new_password", "(hidden)", "a password other than the current one")
    user.password_hash = hash_password(passwords.check(new, user.username))
    _revoke_all(db, user.id)
    audit.record(db, actor, "update", "user", user.id, after={"password": "changed by the user"})


class CredentialsRefused(Unauthorized):
    """A wrong password (or two-factor code) given to confirm an action by a logged-in user.
    Nothing is changed; the API and web count it toward the lock-out, in a transaction of its
    own (see :func:`count_failed_attempt`)."""


class WrongCurrentPassword(CredentialsRefused):
    """A wrong current password on a password change (counted toward the lock-out)."""


def count_failed_attempt(db: Session, actor: Actor) -> None:
    """Count a wrong current password as a failed login: the lock-out comes at the same count,
    and a locked account's sessions end."""
    user = db.get(User, actor.user_id, with_for_update=USER_LOCK)
    if user is None:
        return
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = utcnow() + LOCKOUT
        user.failed_logins = 0
        _revoke_all(db, user.id)
    audit.record(db, actor, "login-failed", "user", user.id, detail="password confirmation")


def _revoke_all(db: Session, user_id: int) -> None:
    for t in db.scalars(
        select(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked.is_(False))
    ):
        t.revoked = True


def mfa_start(db: Session, actor: Actor) -> dict[str, Any]:
    """Start two-factor enrolment for oneself: the secret and its otpauth URI. Refused while
    two-factor is on (a stolen session must not be able to replace the second factor): a new
    device goes through an admin's or the operator's reset."""
    user = db.get(User, actor.user_id, with_for_update=USER_LOCK)
    assert user is not None
    if user.totp_enabled:
        raise Conflict(
            "two-factor is already on; to move it to a new device ask an admin to reset it "
            f"(raad user mfa-reset {user.username})"
        )
    return mfa.start(db, user, actor)


def mfa_confirm(db: Session, actor: Actor, code: str) -> None:
    user = db.get(User, actor.user_id, with_for_update=USER_LOCK)
    assert user is not None
    mfa.confirm(db, user, code, actor)


def mfa_admin(db: Session, actor: Actor | None, username: str, *, enrol: bool) -> dict[str, Any]:
    """The operator (``actor`` None) or an admin enrols a user at once (the secret shown to hand
    over) or resets two-factor (a lost phone)."""
    from .errors import NotFound

    if actor is not None:
        require_admin(actor)
    user = _find(db, username, lock=True)
    if user is None:
        raise NotFound(f"user {username!r} not found")
    if not enrol:
        mfa.reset(db, user, actor)
        return {"username": user.username, "mfa": False}
    started = mfa.start(db, user, actor)
    user.totp_enabled = True
    _revoke_all(db, user.id)
    return {"username": user.username, "mfa": True, **started}
