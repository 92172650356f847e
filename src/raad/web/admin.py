"""The admin pages: user accounts (list, create, disable/enable, unlock, role and site, printed
name, two-factor reset), the sites' settings (time zone, self-report from home, crisis
resources) and the audit trail of a patient or of one record. Every action goes
through the same services as the REST API and the command line, so the same rules, refusals
and audit rows apply."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from raad.services import ServiceError, audit, auth
from raad.services.context import Actor
from raad.services.errors import InvalidInput

from .common import call, error_page, reload_or_error, render

router = APIRouter(prefix="/ui/admin", include_in_schema=False)

ENTITIES = ("patient", "course", "session", "alert", "assessment", "screening", "user")


def _users(s, actor: Actor) -> list[dict[str, Any]]:
    return auth.list_users(s, actor)


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request) -> HTMLResponse:
    try:
        users = await call(request, _users, write=False)
    except ServiceError as exc:
        return error_page(request, exc)
    return render(request, "admin_users.html", users=users)


def _form_text(form, key: str, longest: int = 256) -> str:
    value = form.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > longest:
        raise InvalidInput(key, value, f"text of up to {longest} characters")
    return value


def _create(s, actor: Actor, form) -> dict[str, Any]:
    u = auth.create_user(
        s,
        _form_text(form, "username", 64),
        _form_text(form, "password"),
        _form_text(form, "role", 16),
        _form_text(form, "site", 32).strip() or None,
        actor=actor,
        full_name=_form_text(form, "full_name", 200) or None,
    )
    return {"username": u.username}


@router.post("/users", response_class=HTMLResponse)
async def create_user(request: Request) -> Response:
    form = await request.form()
    return await reload_or_error(request, lambda: (_create, form))


_ACTIONS = ("disable", "enable", "unlock", "set-role", "set-name", "set-password", "mfa-reset")


def _change(s, actor: Actor, username: str, form) -> dict[str, Any]:
    action = _form_text(form, "action", 16)
    if action == "disable":
        return auth.update_user(s, actor, username, active=False)
    if action == "enable":
        return auth.update_user(s, actor, username, active=True)
    if action == "unlock":
        return auth.update_user(s, actor, username, unlock=True)
    if action == "set-role":
        return auth.update_user(
            s,
            actor,
            username,
            role=_form_text(form, "role", 16),
            site_code=_form_text(form, "site", 32).strip() or None,
        )
    if action == "set-name":
        return auth.update_user(s, actor, username, full_name=_form_text(form, "full_name", 200))
    if action == "set-password":
        return auth.update_user(s, actor, username, password=_form_text(form, "password"))
    if action == "mfa-reset":
        return auth.mfa_admin(s, actor, username, enrol=False)
    raise InvalidInput("action", action, f"one of {', '.join(_ACTIONS)}")


@router.post("/users/{username}", response_class=HTMLResponse)
async def change_user(request: Request, username: str) -> Response:
    form = await request.form()
    return await reload_or_error(request, lambda: (_change, username, form))


def _int_or_none(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key)
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**31:
        raise InvalidInput(key, raw, "a record number (1, 2, ...)")
    return int(raw)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request) -> HTMLResponse:
    """The audit trail of a patient (``?patient_id=``) or of one record (``?entity=session&
    entity_id=12``), newest page last; the read is itself recorded."""
    try:
        patient_id = _int_or_none(request, "patient_id")
        entity = request.query_params.get("entity") or None
        if entity is not None and entity not in ENTITIES:
            raise InvalidInput("entity", entity, f"one of {', '.join(ENTITIES)}")
        entity_id = _int_or_none(request, "entity_id")
        offset = _int_or_none(request, "offset") or 0
        result = await call(
            request,
            audit.list_events,
            patient_id=patient_id,
            entity=entity,
            entity_id=entity_id,
            limit=100,
            offset=offset,
        )
    except ServiceError as exc:
        return error_page(request, exc)
    return render(
        request,
        "admin_audit.html",
        events=result["items"],
        total=result.get("total"),
        offset=offset,
        patient_id=patient_id,
        entity=entity,
        entity_id=entity_id,
    )


# -- sites ---------------------------------------------------------------------------------


@router.get("/sites", response_class=HTMLResponse)
async def sites_page(request: Request) -> HTMLResponse:
    try:
        sites = await call(request, auth.list_sites, write=False)
    except ServiceError as exc:
        return error_page(request, exc)
    return render(request, "admin_sites.html", sites=sites)


@router.post("/sites/{code}", response_class=HTMLResponse)
async def update_site(request: Request, code: str) -> Response:
    """A site's time zone, self-report from home, crisis resources and whether answers are
    read as they arrive (the same service and rules as PATCH /sites/{code})."""
    form = await request.form()

    def build():
        changes = {
            "time_zone": _form_text(form, "time_zone", 64).strip() or None,
            "crisis_text": _form_text(form, "crisis_text", 2000),
            "self_report": form.get("self_report") == "1",
            "monitored_in_real_time": form.get("monitored_in_real_time") == "1",
        }
        return (auth.update_site, code, changes)

    return await reload_or_error(request, build)
