"""Planning a course (with its preview and override), its status, signing and locking it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from raad.services import (
    ServiceError,
    courses,
)
from raad.services.schemas import (
    CourseIn,
)

from .common import (
    call,
    call_once,
    error_page,
    field_error,
    form_num,
    form_signature,
    form_text,
    form_version,
    override_error,
    reload_or_error,
    render,
    writers_only,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


# -- courses -------------------------------------------------------------------------------


def _course_in(form) -> CourseIn:
    return CourseIn(
        regimen=form.get("regimen", ""),
        start=form.get("start", ""),
        weight_kg=form_num(form, "weight_kg"),
        override_reason=form.get("override_reason") or None,
    )


@router.post("/patients/{pid}/plan-preview", response_class=HTMLResponse)
async def plan_preview(request: Request, pid: int) -> HTMLResponse:
    if refused := writers_only(request):
        return refused
    form = await request.form()
    try:
        shown = await call(request, courses.preview, pid, _course_in(form), write=False)
    except ValidationError as exc:
        return error_page(request, field_error(exc))
    except ServiceError as exc:
        return error_page(request, exc)
    return render(
        request,
        "_plan.html",
        **shown,
        value=form.get("override_reason") or "",
        oob=True,
    )


@router.post("/patients/{pid}/courses", response_class=HTMLResponse)
async def create_course(request: Request, pid: int) -> Response:
    form = await request.form()
    try:
        c = await call_once(request, form, courses.plan, pid, _course_in(form))
    except ValidationError as exc:
        return error_page(request, field_error(exc))
    except ServiceError as exc:
        return override_error(request, exc, form.get("override_reason"))
    return Response(status_code=204, headers={"HX-Redirect": f"/ui/courses/{c['id']}/sessions/new"})


def _status_reason(form) -> str:
    from raad.services.errors import InvalidInput

    reason = form_text(form, "reason").strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("reason", reason, "why the status changes (1-500 characters)")
    return reason


@router.post("/courses/{course_id}/status", response_class=HTMLResponse)
async def course_status(request: Request, course_id: int) -> Response:
    """Complete, stop or reopen a course from the patient page, with the reason for the change
    (required here: the web form is where a person edits the record)."""
    form = await request.form()
    return await reload_or_error(
        request,
        lambda: (
            courses.set_status,
            course_id,
            form_text(form, "status"),
            form_version(form),
            _status_reason(form),
        ),
    )


@router.post("/courses/{course_id}/lock", response_class=HTMLResponse)
async def lock_course(request: Request, course_id: int) -> Response:
    """Sign and lock a course from the patient page; the page reloads, or the refusal shows."""
    form = await request.form()
    return await reload_or_error(
        request, lambda: (courses.lock, course_id, form_version(form), form_signature(form))
    )


@router.post("/courses/{course_id}/unlock", response_class=HTMLResponse)
async def unlock_course(request: Request, course_id: int) -> Response:
    """Unlock a course (admins) with a reason; the page reloads, or the refusal shows."""
    form = await request.form()
    return await reload_or_error(
        request, lambda: (courses.unlock, course_id, form_version(form), form_text(form, "reason"))
    )
