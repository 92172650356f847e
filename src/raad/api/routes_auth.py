"""Authentication: bearer tokens for API clients, session cookies (with CSRF) for the browser."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from raad.services import auth
from raad.services.errors import TooManyRequests
from raad.services.schemas import MfaCodeIn, PasswordChangeIn

from . import throttle
from .deps import CSRF_COOKIE, SESSION_COOKIE, current_actor, database, run, set_session_cookies

router = APIRouter(prefix="/auth", tags=["auth"])


def _throttled(request: Request) -> None:
    if not throttle.allow(database(request), request.client.host if request.client else None):
        raise TooManyRequests(throttle.MESSAGE)


@router.post("/token", summary="Get a bearer token (OAuth2 password form)")
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    otp: Annotated[str | None, Form(description="The 6-digit two-factor code, if enrolled")] = None,
) -> dict[str, Any]:
    _throttled(request)
    issued = auth.login(database(request), form.username, form.password, "bearer", otp)
    return {
        "access_token": issued.token,
        "token_type": "bearer",
        "expires_at": issued.expires_at.isoformat(),
    }


@router.post("/login", summary="Browser login: sets an HttpOnly session cookie and a CSRF token")
def login(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    otp: Annotated[str | None, Form(description="The 6-digit two-factor code, if enrolled")] = None,
) -> dict[str, Any]:
    _throttled(request)
    issued = auth.login(database(request), form.username, form.password, "cookie", otp)
    set_session_cookies(request, response, issued)
    return {"csrf_token": issued.csrf, "expires_at": issued.expires_at.isoformat()}


@router.post(
    "/password",
    summary="Change your own password (the current one first); other sessions end",
    status_code=204,
)
def change_password(request: Request, body: PasswordChangeIn) -> Response:
    _throttled(request)
    # a wrong current password is counted toward the lock-out (deps.run)
    run(request, auth.change_own_password, body.current_password, body.new_password)
    return Response(status_code=204)


@router.post("/mfa", summary="Start two-factor enrolment: a secret for an authenticator app")
def mfa_start(request: Request) -> dict[str, Any]:
    return run(request, auth.mfa_start)


@router.post(
    "/mfa/confirm", summary="Turn two-factor on with a code from the new secret", status_code=204
)
def mfa_confirm(request: Request, body: MfaCodeIn) -> Response:
    run(request, auth.mfa_confirm, body.code)
    return Response(status_code=204)


@router.post("/logout", summary="Revoke the current token or session", status_code=204)
def logout(request: Request, response: Response) -> Response:
    current_actor(request)  # authenticated (and CSRF-checked for cookies)
    header = request.headers.get("authorization", "")
    secret = header.partition(" ")[2].strip() if header else request.cookies.get(SESSION_COOKIE)
    with database(request).transaction() as s:
        if secret:
            auth.revoke_token(s, secret)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me", summary="Who am I")
def me(request: Request) -> dict[str, Any]:
    actor = current_actor(request)
    return {"username": actor.username, "role": actor.role, "site_id": actor.site_id}
