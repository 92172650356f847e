"""SMART App Launch pages: ``/smart/launch`` (EHR or standalone launch), ``/smart/callback``
(the EHR's redirect back) and ``/smart/context`` (what the current session was launched with).
The flow and its checks are in ``raad.services.smart``; this module only moves the browser.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from raad.api.deps import SESSION_COOKIE, database, set_session_cookies
from raad.services import ServiceError, smart
from raad.services.errors import Unauthorized

from .common import render

router = APIRouter(include_in_schema=False)
STATE_COOKIE = "raad_smart_state"


def _redirect_uri(request: Request) -> str:
    """The callback URL registered at the EHR: ``RAAD_PUBLIC_URL`` (behind a proxy), else the
    address this request came to."""
    base = os.environ.get("RAAD_PUBLIC_URL") or str(request.base_url)
    return base.rstrip("/") + "/smart/callback"


def _refused(request: Request, exc: ServiceError) -> HTMLResponse:
    return render(request, "smart.html", status_code=exc.status, error=exc.message)


@router.get("/smart/launch")
async def launch(request: Request, iss: str | None = None, launch: str | None = None) -> Response:
    """Start a launch: EHR launch with ``launch``, standalone launch without."""

    def work() -> str:
        with database(request).transaction(write=True) as s:
            return smart.start(s, iss, launch, _redirect_uri(request))

    try:
        url = await run_in_threadpool(work)
    except ServiceError as exc:
        return _refused(request, exc)
    response = RedirectResponse(url, status_code=302)
    # the launch's state, bound to this browser: a callback URL carried to another browser
    # (login CSRF) finds no cookie there and is refused. SameSite=Lax: the EHR's redirect back
    # is a top-level GET from another site, which Lax cookies go with and Strict ones do not.
    state = parse_qs(urlsplit(url).query).get("state", [""])[0]
    response.set_cookie(
        STATE_COOKIE,
        smart.state_digest(state),
        max_age=int(smart.LAUNCH_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/smart/callback",
    )
    return response


@router.get("/smart/callback")
async def callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    """Finish a launch: the state is spent first (committed), then the code is exchanged, the
    patient read from the EHR and the raad session opened in one transaction."""
    db = database(request)
    bound = request.cookies.get(STATE_COOKIE, "")

    def work() -> smart.Launched:
        if not state or not secrets.compare_digest(bound, smart.state_digest(state)):
            raise Unauthorized(
                "SMART launch refused: the state does not belong to a launch this browser "
                "started (open raad from the EHR again)"
            )
        with db.transaction(write=True) as s:
            row = smart.take_launch(s, state)
        if error:
            raise Unauthorized(
                f"the EHR ended the launch: {error}"
                + (f" ({error_description[:200]})" if error_description else "")
            )
        with db.transaction(write=False) as s:
            token = smart.exchange(s, row, code)
        patient = token.get("patient")
        record = (
            smart.patient_bundle(row.iss, str(patient), token["access_token"]) if patient else None
        )
        with db.transaction(write=True) as s:
            return smart.open_session(s, row, token, record)

    try:
        done = await run_in_threadpool(work)
    except ServiceError as exc:
        return _refused(request, exc)
    target = f"/ui/patients/{done.patient_id}" if done.patient_id else "/ui/patients"
    # a page, not a redirect: the session cookie is SameSite=Strict, and the browser sends it
    # on a navigation this (same-site) page starts, not on a redirect chain the EHR began
    response = render(request, "smart.html", target=target, context=done.context)
    set_session_cookies(request, response, done.issued)
    response.delete_cookie(STATE_COOKIE, path="/smart/callback")
    return response


@router.get("/smart/context")
async def context(request: Request) -> Response:
    """The SMART launch context of this browser session (no tokens); 404 if it was not opened
    from an EHR."""
    token = request.cookies.get(SESSION_COOKIE)

    def work():
        with database(request).transaction(write=False) as s:
            return smart.context_of(s, token) if token else None

    found = await run_in_threadpool(work)
    if found is None:
        return JSONResponse(
            {"error": "NotFound", "message": "this session was not opened by a SMART launch"},
            status_code=404,
        )
    return JSONResponse(found)
