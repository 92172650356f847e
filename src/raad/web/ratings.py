"""Rating scales: the form, its live score, recording a rating and the trajectory plot."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from raad.scales import ScaleInputError, get
from raad.services import (
    ServiceError,
    assessments,
    expected,
    patients,
    sessions,
)
from raad.services.schemas import (
    AssessmentIn,
)

from .common import (
    call,
    call_once,
    error_page,
    field_error,
    now_typed,
    render,
    typed_time,
    web_actor,
)
from .plots import trajectory_svg

router = APIRouter(prefix="/ui", include_in_schema=False)


# -- ratings -------------------------------------------------------------------------------


@router.get("/patients/{pid}/rate/{instrument}", response_class=HTMLResponse)
async def rating_page(request: Request, pid: int, instrument: str) -> HTMLResponse:
    try:
        p = await call(request, patients.get, pid)
        instr = get(instrument)
    except ScaleInputError as exc:
        from raad.services.errors import NotFound

        return error_page(request, NotFound(str(exc)))
    except ServiceError as exc:
        return error_page(request, exc)
    return render(request, "rate.html", p=p, instr=instr, now=now_typed(web_actor(request)))


def _responses(instr, form) -> dict[str, int]:
    out = {}
    for item in instr.items:
        raw = (form.get(f"item_{item.id}") or "").strip()
        key = item.id + (
            form.get(f"variant_{item.id}") or next(iter(item.variants), "") if item.variants else ""
        )
        if raw != "":
            try:
                out[key] = int(raw)
            except ValueError:
                raise ScaleInputError(
                    f"{instr.name} item {item.id}", raw, f"{item.min}-{item.max}"
                ) from None
    for extra in instr.extra_items:
        raw = (form.get(f"item_{extra.id}") or "").strip()
        if raw != "":
            out[extra.id] = int(raw)
    return out


@router.post("/rate/{instrument}/preview", response_class=HTMLResponse)
async def rating_preview(request: Request, instrument: str) -> HTMLResponse:
    web_actor(request)
    form = await request.form()
    instr = get(instrument)
    try:
        score = instr.score(_responses(instr, form), allow_incomplete=True)
    except ScaleInputError as exc:
        return render(request, "_score.html", score=None, error=str(exc), instr=instr)
    return render(request, "_score.html", score=score, error=None, instr=instr)


@router.post("/patients/{pid}/rate/{instrument}", response_class=HTMLResponse)
async def record_rating(request: Request, pid: int, instrument: str) -> Response:
    form = await request.form()
    try:
        instr = get(instrument)
    except ScaleInputError as exc:
        from raad.services.errors import InvalidInput

        return render(
            request, "_error.html", exc=InvalidInput("instrument", exc.value, exc.allowed)
        )
    when = typed_time(form.get("administered_at", ""), web_actor(request)) or ""
    try:
        body = AssessmentIn(
            instrument=instr.name, responses=_responses(instr, form), administered_at=when
        )
        await call_once(request, form, assessments.record, pid, body)
    except ValidationError as exc:
        return render(request, "_error.html", exc=field_error(exc))
    except ScaleInputError as exc:
        from raad.services.errors import InvalidInput

        return render(request, "_error.html", exc=InvalidInput(exc.field, exc.value, exc.allowed))
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    return Response(status_code=204, headers={"HX-Redirect": f"/ui/patients/{pid}#ratings"})


@router.get("/patients/{pid}/trajectory.svg")
async def trajectory(request: Request, pid: int) -> Response:
    def data(s, actor, pid):
        return (
            assessments.list_for(s, actor, pid),
            sessions.list_sessions(s, actor, patient_id=pid, limit=200)["items"],
            expected.expected_course(s, actor, pid) if actor.identified_access else None,
        )

    try:
        ratings, done, band = await call(request, data, pid, write=False)
    except ServiceError as exc:
        return Response(exc.message, status_code=exc.status)
    svg = await run_in_threadpool(trajectory_svg, ratings, done, band)
    return Response(svg, media_type="image/svg+xml")
