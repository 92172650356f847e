"""Two-factor authentication with time-based one-time codes (TOTP, RFC 6238, through pyotp):
30-second steps, six digits, one step of clock drift either way, and no code accepted twice
(the last accepted step is kept). Every role may enrol; admins must (``REQUIRE_FOR_ADMINS``,
``RAAD_REQUIRE_ADMIN_MFA``, on by default): an admin without it cannot log in until the
operator enrols them on the server (``raad user mfa-enrol``).
"""

from __future__ import annotations

import os
import time
from typing import Any

import pyotp
from sqlalchemy.orm import Session

from raad.store.models import User

from . import audit
from .context import Actor
from .errors import InvalidInput, NotFound

ISSUER = "raad"
STEP_S = 30
REQUIRE_FOR_ADMINS = os.environ.get("RAAD_REQUIRE_ADMIN_MFA", "1") != "0"


def required(user: User) -> bool:
    return user.role == "admin" and REQUIRE_FOR_ADMINS


def start(db: Session, user: User, actor: Actor | None) -> dict[str, Any]:
    """A new secret for ``user`` (replacing one not yet confirmed): the base32 key and the
    ``otpauth://`` URI an authenticator app reads (as text or a QR code)."""
    user.totp_secret = pyotp.random_base32()
    user.totp_enabled = False
    user.totp_last_step = None
    audit.record(db, actor, "update", "user", user.id, after={"mfa": "enrolment started"})
    return {
        "secret": user.totp_secret,
        "uri": pyotp.TOTP(user.totp_secret).provisioning_uri(
            name=user.username, issuer_name=ISSUER
        ),
    }


def accept(user: User, code: str | None, now: float | None = None) -> bool:
    """Whether ``code`` is the user's current code (one step of drift either way) and newer
    than the last one accepted; records the step when it is."""
    if not user.totp_secret or not code:
        return False
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return False
    now = time.time() if now is None else now
    totp = pyotp.TOTP(user.totp_secret)
    step = int(now // STEP_S)
    for s in (step - 1, step, step + 1):
        if totp.at(s * STEP_S) == code:
            if user.totp_last_step is not None and s <= user.totp_last_step:
                return False  # replayed
            user.totp_last_step = s
            return True
    return False


def confirm(db: Session, user: User, code: str, actor: Actor | None) -> None:
    """Turn two-factor on once the user shows a code from the new secret."""
    if not user.totp_secret:
        raise NotFound("no two-factor enrolment under way: start one first")
    if not accept(user, code):
        raise InvalidInput("code", "(hidden)", "the 6-digit code the authenticator shows now")
    user.totp_enabled = True
    audit.record(db, actor, "update", "user", user.id, after={"mfa": "enabled"})


def reset(db: Session, user: User, actor: Actor | None) -> None:
    """Two-factor off (a lost phone); the operator or an admin enrols the user again."""
    user.totp_secret = None
    user.totp_enabled = False
    user.totp_last_step = None
    audit.record(db, actor, "update", "user", user.id, after={"mfa": "reset"})
