"""SMART App Launch (HL7 SMART App Launch IG 2.2.0, STU 2.2): raad opened from inside an EHR.

raad is a *confidential symmetric* client (a client secret the EHR issued) using the
authorization-code grant with PKCE S256. The flow ("App Launch: Launch and Authorization"):

1. ``start``: the EHR opens ``/smart/launch?iss=...&launch=...`` (EHR launch) or a user opens
   ``/smart/launch?iss=...`` (standalone launch). ``iss`` must be an EHR registered here
   (``raad smart register``): raad never contacts an address it was not configured for. raad
   reads ``{iss}/.well-known/smart-configuration`` ("Conformance"), refuses an EHR that does
   not offer PKCE S256, stores the launch (the SHA-256 of a random ``state``, the PKCE code
   verifier and an OpenID Connect nonce, for 10 minutes) and sends the browser to the EHR's
   authorize endpoint with ``aud`` = ``iss``.
2. ``finish``: the EHR redirects back with ``code`` and ``state``. An unknown, used or expired
   ``state`` is refused. raad exchanges the code (client secret + code verifier) at the token
   endpoint, checks the id token (signature against the EHR's ``jwks_uri``, ``iss``, ``aud`` =
   raad's client id, ``exp``, ``nonce``), maps the id token's ``fhirUser`` to the raad account
   linked to it (``raad smart link``), reads the launch patient from the EHR's FHIR server with
   the access token (the same queries as the CDS Hooks prefetch, read by raad's one FHIR
   reader) and matches or imports the raad patient at the EHR's site, then opens a raad browser
   session. The EHR's tokens and context (patient, encounter, user) stay in the database with
   that session; the browser gets only raad's own session cookie.

The OAuth 2.0 client work (authorization URL, PKCE, code exchange with client
authentication) is Authlib's; the id token is checked with PyJWT. Errors are ``ServiceError``s
naming what was wrong; nothing is written for a launch that fails after the callback except
the spent ``state``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from raad.interop import fhir_client
from raad.interop.cds_hooks import OPTIONAL_KEYS, PREFETCH
from raad.store.models import (
    AuthToken,
    Site,
    SmartClient,
    SmartContext,
    SmartLaunch,
    SmartUserLink,
    User,
)

from . import audit, auth, fhir
from .authz import require_admin
from .context import Actor
from .errors import Forbidden, InvalidInput, NotFound, ServiceError, Unauthorized

LAUNCH_TTL = timedelta(minutes=10)  # raad's convention: a launch not finished by then is dropped
TIMEOUT_S = 10.0
LEEWAY_S = 30  # clock skew allowed on the id token's exp/iat (seconds); raad's convention
ID_TOKEN_ALGORITHMS = [
    "RS256",
    "RS384",
    "ES384",
]  # RS256 is the one SMART requires servers to offer
# what raad reads: the patient's record for screening (SMART v2 scopes, "Scopes and Launch
# Context"), the user's identity (openid fhirUser) and, for EHR launch, the launch context
READ_SCOPES = (
    "patient/Patient.rs patient/Condition.rs patient/MedicationRequest.rs "
    "patient/MedicationStatement.rs patient/Medication.rs patient/AllergyIntolerance.rs "
    "patient/Observation.rs"
)
DEFAULT_SCOPE = f"openid fhirUser {READ_SCOPES}"


class SmartError(ServiceError):
    """A launch that cannot go on (the EHR's answer, or its configuration, is not usable)."""

    status = 502


@dataclass(frozen=True)
class Discovery:
    """What an EHR's ``.well-known/smart-configuration`` says (the fields raad uses)."""

    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None
    jwks_uri: str | None
    capabilities: tuple[str, ...]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def state_digest(state: str) -> str:
    """The SHA-256 of a launch's ``state`` (what is stored, and what binds it to a browser)."""
    return _digest(state)


def _url(value: str, field: str) -> str:
    local = value.startswith(("http://127.0.0.1", "http://localhost"))
    if not (value.startswith("https://") or local) or len(value) > 512:
        raise InvalidInput(field, value, "an https:// URL (http only on localhost), at most 512")
    return value.rstrip("/")


# -- configuration (admin, or the operator at the command line) ------------------------------


def register(
    db: Session,
    actor: Actor | None,
    iss: str,
    client_id: str,
    client_secret: str,
    site: str,
    scope: str | None = None,
) -> dict[str, Any]:
    """Register raad at an EHR: its FHIR base URL ``iss``, the client id and secret it issued,
    and the raad site its patients belong to. Registering again replaces the entry."""
    if actor is not None:
        require_admin(actor)
    iss = _url(iss, "iss")
    if not client_id or len(client_id) > 256:
        raise InvalidInput("client_id", client_id, "the client id the EHR issued (1-256)")
    if len(client_secret) < 16:
        raise InvalidInput("client_secret", "(hidden)", "the EHR's client secret (16+ chars)")
    s = db.scalar(select(Site).where(Site.code == site))
    if s is None:
        raise InvalidInput("site", site, "an existing site code")
    row = db.scalar(select(SmartClient).where(SmartClient.iss == iss))
    if row is None:
        row = SmartClient(iss=iss)
        db.add(row)
    row.client_id, row.client_secret, row.site_id = client_id, client_secret, s.id
    row.scope = scope or DEFAULT_SCOPE
    db.flush()
    return {"iss": iss, "client_id": client_id, "site": site, "scope": row.scope}


def link_user(
    db: Session, actor: Actor | None, iss: str, fhir_user: str, username: str
) -> dict[str, Any]:
    """Launches by the EHR user ``fhir_user`` (the id token's ``fhirUser``: a relative or
    absolute Practitioner/PractitionerRole/Patient/Person URL) act as the raad account
    ``username``."""
    if actor is not None:
        require_admin(actor)
    iss = _url(iss, "iss")
    if db.scalar(select(SmartClient).where(SmartClient.iss == iss)) is None:
        raise NotFound(f"no EHR registered at {iss}; register it first (raad smart register)")
    if not fhir_user or len(fhir_user) > 512:
        raise InvalidInput("fhir_user", fhir_user, "the EHR user's FHIR reference (1-512)")
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} not found")
    key = _user_key(iss, fhir_user)
    row = db.scalar(
        select(SmartUserLink).where(SmartUserLink.iss == iss, SmartUserLink.fhir_user == key)
    )
    if row is None:
        db.add(SmartUserLink(iss=iss, fhir_user=key, user_id=user.id))
    else:
        row.user_id = user.id
    db.flush()
    return {"iss": iss, "fhir_user": key, "user": username}


def _user_key(iss: str, fhir_user: str) -> str:
    """``fhirUser`` as a relative reference (an absolute URL on the EHR's own server is cut
    to ``Type/id``), so a link matches whichever form the id token uses."""
    base = iss.rstrip("/") + "/"
    return fhir_user[len(base) :] if fhir_user.startswith(base) else fhir_user


def registered(db: Session) -> list[dict[str, Any]]:
    """The EHRs raad is registered at (no secrets) and the users linked at each."""
    out = []
    for c, code in db.execute(select(SmartClient, Site.code).join(Site)).all():
        links = db.execute(
            select(SmartUserLink.fhir_user, User.username)
            .join(User, User.id == SmartUserLink.user_id)
            .where(SmartUserLink.iss == c.iss)
        ).all()
        out.append(
            {
                "iss": c.iss,
                "client_id": c.client_id,
                "site": code,
                "scope": c.scope,
                "users": {f: u for f, u in links},
            }
        )
    return out


# -- the launch ------------------------------------------------------------------------------


def discover(iss: str, get: Callable[..., httpx.Response] | None = None) -> Discovery:
    """The EHR's SMART configuration (``{iss}/.well-known/smart-configuration``); SmartError
    when it cannot be read or lacks what an authorization-code launch with PKCE needs."""
    url = f"{iss.rstrip('/')}/.well-known/smart-configuration"
    try:
        resp = (get or httpx.get)(url, timeout=TIMEOUT_S, headers={"Accept": "application/json"})
        body = resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        raise SmartError(f"{url}: not readable ({type(exc).__name__})") from None
    if not isinstance(body, dict):
        raise SmartError(f"{url}: HTTP {resp.status_code}, not a SMART configuration")
    missing = [k for k in ("authorization_endpoint", "token_endpoint") if not body.get(k)]
    if missing:
        raise SmartError(f"{url}: no {', '.join(missing)}")
    if "S256" not in (body.get("code_challenge_methods_supported") or []):
        raise SmartError(f"{url}: the EHR does not offer PKCE S256 (SMART App Launch 2 needs it)")
    return Discovery(
        authorization_endpoint=str(body["authorization_endpoint"]),
        token_endpoint=str(body["token_endpoint"]),
        issuer=body.get("issuer"),
        jwks_uri=body.get("jwks_uri"),
        capabilities=tuple(str(c) for c in body.get("capabilities") or []),
    )


def _client(db: Session, iss: str) -> SmartClient:
    row = db.scalar(select(SmartClient).where(SmartClient.iss == iss.rstrip("/")))
    if row is None:
        raise InvalidInput("iss", iss, "the FHIR base URL of an EHR registered with raad")
    return row


def _oauth(client: SmartClient, redirect_uri: str, scope: str | None = None) -> OAuth2Client:
    return OAuth2Client(
        client_id=client.client_id,
        client_secret=client.client_secret,
        redirect_uri=redirect_uri,
        scope=scope or client.scope,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        timeout=TIMEOUT_S,
    )


def start(db: Session, iss: str | None, launch: str | None, redirect_uri: str) -> str:
    """Where to send the browser: the EHR's authorize URL for this launch (EHR launch with
    ``launch``, standalone without). Raises InvalidInput (``iss`` missing or not registered,
    ``launch`` too long) or SmartError (the EHR's configuration)."""
    if not iss:
        raise InvalidInput("iss", iss, "the EHR's FHIR base URL")
    if launch is not None and not (0 < len(launch) <= 1024):
        raise InvalidInput("launch", launch, "the EHR's launch id (1-1024 characters)")
    client = _client(db, iss)
    found = discover(client.iss)
    if launch and found.capabilities and "launch-ehr" not in found.capabilities:
        raise SmartError(f"{client.iss} does not offer EHR launch (capabilities)")
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 allows 43-128
    scope = client.scope + (" launch" if launch else " launch/patient")
    extra = {"aud": client.iss, "nonce": nonce} | ({"launch": launch} if launch else {})
    with _oauth(client, redirect_uri, scope) as oauth:
        url, _ = oauth.create_authorization_url(
            found.authorization_endpoint, state=state, code_verifier=verifier, **extra
        )
    now = datetime.now(UTC)
    db.execute(delete(SmartLaunch).where(SmartLaunch.expires_at < now))
    db.add(
        SmartLaunch(
            state_hash=_digest(state),
            iss=client.iss,
            code_verifier=verifier,
            nonce=nonce,
            token_endpoint=found.token_endpoint,
            redirect_uri=redirect_uri,
            expires_at=now + LAUNCH_TTL,
        )
    )
    return url


@dataclass(frozen=True)
class Launched:
    """A finished launch: raad's browser session and where to open it."""

    issued: auth.IssuedToken
    patient_id: int | None
    context: dict[str, Any]


def take_launch(db: Session, state: str | None) -> SmartLaunch:
    """The launch ``state`` names, removed so it cannot be used twice (the caller commits
    this before going on). Unauthorized for an unknown, used or expired state."""
    if not state or len(state) > 256:
        raise Unauthorized("SMART launch refused: no state, or not one raad issued")
    row = db.scalar(select(SmartLaunch).where(SmartLaunch.state_hash == _digest(state)))
    if row is None:
        raise Unauthorized("SMART launch refused: unknown or already used state")
    db.delete(row)
    db.flush()  # the delete is written before the row is detached
    if row.expires_at < datetime.now(UTC):
        raise Unauthorized("SMART launch refused: the launch expired; open raad from the EHR again")
    db.expunge(row)
    return row


def exchange(db: Session, row: SmartLaunch, code: str | None) -> dict[str, Any]:
    """The token response for ``code`` (client secret + PKCE verifier), its id token checked.
    Raises Unauthorized (no code, the EHR refused, a bad id token) or SmartError."""
    if not code or len(code) > 4096:
        raise Unauthorized("SMART launch refused: no authorization code")
    client = _client(db, row.iss)
    try:
        with _oauth(client, row.redirect_uri) as oauth:
            token = dict(
                oauth.fetch_token(
                    row.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=row.code_verifier,
                    redirect_uri=row.redirect_uri,
                )
            )
    except OAuthError as exc:
        raise Unauthorized(f"SMART launch refused by the EHR: {exc.error}") from None
    except (httpx.HTTPError, ValueError) as exc:
        raise SmartError(f"token endpoint: {type(exc).__name__}") from None
    if str(token.get("token_type", "")).lower() != "bearer" or not token.get("access_token"):
        raise SmartError("token endpoint: no bearer access token in the answer")
    expires_in = token.get("expires_in")
    if expires_in is not None and (not isinstance(expires_in, int | float) or expires_in <= 0):
        raise Unauthorized("SMART launch refused: the access token has already expired")
    if not token.get("id_token"):
        raise Unauthorized("SMART launch refused: no id token (raad asks for openid fhirUser)")
    token["claims"] = verify_id_token(
        token["id_token"], discover(row.iss), client.client_id, row.nonce, row.iss
    )
    return token


def verify_id_token(
    id_token: str, found: Discovery, client_id: str, nonce: str, iss: str
) -> dict[str, Any]:
    """The id token's claims after checking its signature (the EHR's ``jwks_uri``), ``iss``
    (the configuration's ``issuer``, else the FHIR base URL), ``aud`` (raad's client id),
    ``exp``/``iat`` and ``nonce`` (OpenID Connect Core 1.0, 3.1.3.7). Unauthorized if any
    fails."""
    if not found.jwks_uri:
        raise SmartError(f"{iss}: no jwks_uri in the SMART configuration to check id tokens")
    try:
        key = jwt.PyJWKClient(found.jwks_uri, cache_keys=False).get_signing_key_from_jwt(id_token)
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=ID_TOKEN_ALGORITHMS,
            audience=client_id,
            issuer=found.issuer or iss,
            leeway=LEEWAY_S,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
        raise Unauthorized(f"SMART launch refused: id token: {exc}") from None
    if claims.get("nonce") != nonce:
        raise Unauthorized("SMART launch refused: id token: nonce is not this launch's")
    return claims


def _linked_user(db: Session, iss: str, claims: dict[str, Any], client: SmartClient) -> User:
    fhir_user = claims.get("fhirUser") or claims.get("profile")
    if not isinstance(fhir_user, str) or not fhir_user:
        raise Forbidden("SMART launch: the id token names no fhirUser to match a raad account")
    key = _user_key(iss, fhir_user)
    link = db.scalar(
        select(SmartUserLink).where(SmartUserLink.iss == iss, SmartUserLink.fhir_user == key)
    )
    user = db.get(User, link.user_id) if link else None
    if user is None:
        raise Forbidden(
            f"SMART launch: the EHR user {key} is not linked to a raad account; an "
            f"administrator links it with: raad smart link {iss} {key} USERNAME"
        )
    if not user.active:
        raise Forbidden(f"SMART launch: the raad account linked to {key} is disabled")
    if user.role != "admin" and user.site_id != client.site_id:
        raise Forbidden(f"SMART launch: the raad account linked to {key} is not at the EHR's site")
    return user


def patient_bundle(iss: str, patient: str, access_token: str) -> dict[str, Any]:
    """The launch patient's record from the EHR's FHIR server as one collection Bundle: the
    CDS Hooks prefetch queries (one set of queries, one reader), each with the access token.
    A query for data some servers do not offer (``OPTIONAL_KEYS``) may fail; the others raise
    SmartError naming the query."""
    entries: list[dict[str, Any]] = []
    for key, template in PREFETCH.items():
        query = template.replace("{{context.patientId}}", patient)
        try:
            got = fhir_client.fetch(iss, query, access_token, allowed=(iss,))
        except fhir_client.FhirServerError as exc:
            if key in OPTIONAL_KEYS:
                continue
            raise SmartError(f"the EHR's FHIR server: {exc}") from None
        if isinstance(got, dict) and got.get("resourceType") == "Bundle":
            entries += [
                {"resource": e["resource"]}
                for e in got.get("entry") or []
                if isinstance(e, dict)
                and isinstance(e.get("resource"), dict)
                and e["resource"].get("resourceType") != "OperationOutcome"
            ]
        elif isinstance(got, dict) and got.get("resourceType"):
            entries.append({"resource": got})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def open_session(
    db: Session, row: SmartLaunch, token: dict[str, Any], record: dict[str, Any] | None
) -> Launched:
    """The raad side of a finished launch, in one transaction: the linked account, the patient
    matched or imported from ``record`` (the EHR's Bundle), a browser session, its context."""
    client = _client(db, row.iss)
    claims = token["claims"]
    user = _linked_user(db, row.iss, claims, client)
    actor = auth.actor_of(user)
    site = db.get(Site, client.site_id)
    patient_id = None
    if record is not None:
        imported = fhir.import_bundle(db, actor, record, site=site.code if site else None)
        patient_id = imported["patient_id"]
    issued = auth.issue_token(db, user, "cookie")
    db.flush()
    token_row = db.scalar(
        select(AuthToken).where(AuthToken.token_hash == auth._digest(issued.token))
    )
    expires_in = token.get("expires_in")
    context = {
        "iss": row.iss,
        "fhir_user": _user_key(row.iss, str(claims.get("fhirUser") or claims.get("profile"))),
        "ehr_patient": token.get("patient"),
        "ehr_encounter": token.get("encounter"),
        "patient_id": patient_id,
        "scope": str(token.get("scope") or ""),
        "site": site.code if site else None,
    }
    db.add(
        SmartContext(
            auth_token_id=token_row.id,
            iss=row.iss,
            fhir_user=context["fhir_user"],
            ehr_patient=context["ehr_patient"],
            ehr_encounter=context["ehr_encounter"],
            patient_id=patient_id,
            scope=context["scope"],
            access_token=str(token["access_token"]),
            refresh_token=token.get("refresh_token"),
            expires_at=datetime.now(UTC) + timedelta(seconds=float(expires_in or 3600)),
        )
    )
    audit.record(
        db,
        actor,
        "smart-launch",
        "patient" if patient_id else "user",
        patient_id or user.id,
        patient_id=patient_id,
        detail=row.iss,
    )
    return Launched(issued, patient_id, context)


def context_of(db: Session, session_token: str) -> dict[str, Any] | None:
    """The launch context of a raad browser session (no tokens), or None if it was not opened
    by a SMART launch."""
    row = db.execute(
        select(SmartContext, Site.code)
        .join(AuthToken, AuthToken.id == SmartContext.auth_token_id)
        .join(SmartClient, SmartClient.iss == SmartContext.iss)
        .join(Site, Site.id == SmartClient.site_id)
        .where(AuthToken.token_hash == auth._digest(session_token))
    ).first()
    if row is None:
        return None
    c, site = row
    return {
        "iss": c.iss,
        "fhir_user": c.fhir_user,
        "ehr_patient": c.ehr_patient,
        "ehr_encounter": c.ehr_encounter,
        "patient_id": c.patient_id,
        "scope": c.scope,
        "site": site,
    }
