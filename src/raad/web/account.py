"""A user's own account page: the password changed (the current one first; a wrong one counts
toward the lock-out) and two-factor authentication turned on with an authenticator app (its key
as text and as a QR code). The same services as ``POST /auth/password`` and ``/auth/mfa``."""

from __future__ import annotations

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from raad.services import ServiceError, auth
from raad.services.errors import InvalidInput

from .common import call, error_page, render

router = APIRouter(prefix="/ui/account", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def account_page(request: Request) -> HTMLResponse:
    try:
        me = await call(request, auth.own_account, write=False)
    except ServiceError as exc:
        return error_page(request, exc)
    return render(request, "account.html", me=me)


def _field(form, key: str) -> str:
    value = form.get(key)
    if not isinstance(value, str) or len(value) > 256:
        raise InvalidInput(key, value, "text of up to 256 characters")
    return value


@router.post("/password", response_class=HTMLResponse)
async def change_password(request: Request) -> Response:
    """Every session of the user ends with the change, this one too: log in again."""
    form = await request.form()
    try:
        new = _field(form, "new_password")
        if new != _field(form, "new_password_again"):
            raise InvalidInput("new_password_again", "(hidden)", "the same new password twice")
        await call(request, auth.change_own_password, _field(form, "current_password"), new)
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    return Response(status_code=204, headers={"HX-Redirect": "/ui/login?changed=1"})


@router.post("/mfa", response_class=HTMLResponse)
async def mfa_start(request: Request) -> HTMLResponse:
    """A new key: shown once, as text and as a QR code, with the form to confirm a code."""
    try:
        started = await call(request, auth.mfa_start)
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    qr = segno.make(started["uri"], error="m").svg_data_uri(scale=4)
    return render(request, "_mfa_enrol.html", secret=started["secret"], qr=qr)


@router.post("/mfa/confirm", response_class=HTMLResponse)
async def mfa_confirm(request: Request) -> Response:
    form = await request.form()
    try:
        await call(request, auth.mfa_confirm, _field(form, "code"))
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    return Response(status_code=204, headers={"HX-Refresh": "true"})
