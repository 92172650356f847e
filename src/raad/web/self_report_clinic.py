"""The clinician's side of self-report: the patient page's forms (contact, a link to send, a
link withdrawn) and the page of due and missed questionnaires at the site."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from raad.api.routes_self_report import public_base
from raad.services import ServiceError, self_report
from raad.services.errors import InvalidInput

from .common import call, error_page, form_text, reload_or_error, render, web_actor

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.post("/patients/{pid}/contact", response_class=HTMLResponse)
async def set_contact(request: Request, pid: int) -> Response:
    form = await request.form()
    return await reload_or_error(
        request,
        lambda: (
            self_report.set_contact,
            pid,
            form_text(form, "email"),
            form_text(form, "phone"),
            form_text(form, "channel") or "none",
            bool(form.get("consent")),
        ),
    )


@router.post("/patients/{pid}/self-report", response_class=HTMLResponse)
async def make_link(request: Request, pid: int) -> Response:
    """A link for the patient, shown this once with its full address to hand over or copy."""
    form = await request.form()
    try:
        link = await call(request, self_report.create_link, pid, form_text(form, "instrument"))
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    url = public_base(request) + link["path"]
    return render(request, "_link_once.html", link=link, url=url)


@router.post("/self-report/{link_id}/revoke", response_class=HTMLResponse)
async def revoke(request: Request, link_id: int) -> Response:
    form = await request.form()
    return await reload_or_error(
        request, lambda: (self_report.revoke, link_id, form_text(form, "reason"))
    )


@router.get("/self-report", response_class=HTMLResponse)
async def due_page(
    request: Request, site: str | None = None, days: str | None = None, mine: str | None = None
) -> HTMLResponse:
    actor = web_actor(request)
    try:
        try:
            window = int(days) if days else 14
        except ValueError:
            raise InvalidInput("days", days, "a whole number of days, 1-365") from None
        if not site and actor.role == "admin":  # admins pick a site
            empty = {"due": [], "missed": [], "answered": 0, "response_rate": None}
            return render(
                request,
                "self_report_due.html",
                **empty,
                days=window,
                mine=False,
                site=None,
                pick_site=True,
            )
        data = await call(request, self_report.due_list, site, window, bool(mine))
    except ServiceError as exc:
        return error_page(request, exc)
    return render(request, "self_report_due.html", **data, site=site)
