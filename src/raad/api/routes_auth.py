"""Authentication: bearer tokens for API clients, session cookies (with CSRF) for the browser."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from raad.services import auth
from raad.services.context import Actor

from .deps import CSRF_COOKIE, SESSION_COOKIE, current_actor, database

router = APIRouter(prefix="/auth", tags=["auth"])


def _login(request: Request, username: str, password: str, kind: str) -> auth.IssuedToken:
    return auth.login(database(request), username, password, kind)


@router.post("/token", summary="Get a bearer token (OAuth2 password form)")
def token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    issued = _login(request, form.username, form.password, "bearer")
    return {
        "access_token": issued.token,
        "token_type": "bearer",
        "expires_at": issued.expires_at.isoformat(),
    }


@router.post("/login", summary="Browser login: sets an HttpOnly session cookie and a CSRF token")
def login(
    request: Request, response: Response, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    issued = _login(request, form.username, form.password, "cookie")
    secure = request.url.scheme == "https"
    max_age = int((issued.expires_at - auth.utcnow()).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    # double-submit: the page reads this cookie and echoes it in X-CSRF-Token on every change
    response.set_cookie(
        CSRF_COOKIE,
        issued.csrf or "",
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return {"csrf_token": issued.csrf, "expires_at": issued.expires_at.isoformat()}


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
def me(actor: Annotated[Actor, Depends(current_actor)]) -> dict[str, Any]:
    return {"username": actor.username, "role": actor.role, "site_id": actor.site_id}
