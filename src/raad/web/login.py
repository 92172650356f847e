"""Logging in and out of the web app (login-CSRF token, throttling, session cookies)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from raad.api import throttle
from raad.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    database,
    set_session_cookies,
)
from raad.services import (
    ServiceError,
    auth,
)

from .common import (
    render,
    safe_next,
    web_actor,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
root = APIRouter(include_in_schema=False)


# -- login ---------------------------------------------------------------------------------


@root.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse("/ui/patients", status_code=303)


LOGIN_CSRF_COOKIE = "raad_login_csrf"


def _login_form(request: Request, error: str | None, status_code: int = 200) -> HTMLResponse:
    """The login page with a fresh login-CSRF token: the same random value in a cookie and in
    the form, so a page elsewhere cannot log the browser in to an account of its choosing
    (login CSRF; double-submit, the cookie SameSite=Strict and HttpOnly)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", error=error, login_csrf=token, status_code=status_code)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui/login",
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _login_form(request, None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    sent, expected = str(form.get("login_csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(sent, expected):
        return _login_form(request, "The login form expired: please log in again.", 403)
    client = request.client.host if request.client else None
    if not await run_in_threadpool(throttle.allow, database(request), client):
        return _login_form(request, throttle.MESSAGE, 429)

    try:
        otp = str(form.get("otp", "")).strip() or None
        issued = await run_in_threadpool(
            auth.login, database(request), username, password, "cookie", otp
        )
    except ServiceError as exc:
        return _login_form(request, exc.message, 401)
    response = RedirectResponse(safe_next(str(form.get("next") or "")), status_code=303)
    set_session_cookies(request, response, issued)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    web_actor(request)

    def work():
        with database(request).transaction() as s:
            auth.revoke_token(s, request.cookies[SESSION_COOKIE])

    await run_in_threadpool(work)
    response = Response(status_code=204, headers={"HX-Redirect": "/ui/login"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
