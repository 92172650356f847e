"""The cohort outcomes (researchers' aggregate view) and the evidence explorer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from raad.services import ServiceError, cohort, self_report

from . import evidence_view
from .common import call, error_page, render, web_actor

router = APIRouter(prefix="/ui", include_in_schema=False)


# -- cohort and evidence -------------------------------------------------------------------


@router.get("/cohort", response_class=HTMLResponse)
async def cohort_page(request: Request) -> HTMLResponse:
    from raad.services.cohort_evidence import reliable_rates
    from raad.services.deid import MIN_CELL

    rows = await call(request, cohort.outcomes, write=False, replica=True)
    home = await call(request, self_report.response_rates, write=False)
    reliable = await call(request, reliable_rates, write=False)
    from raad.services import cds_feedback

    feedback = await call(request, cds_feedback.summary, write=False)
    return render(
        request,
        "cohort.html",
        rows=rows,
        home=home,
        reliable=reliable,
        feedback=feedback,
        min_cell=MIN_CELL,
    )


@router.get("/evidence", response_class=HTMLResponse)
async def evidence_page(
    request: Request, agent: str = "n2o", dose: str | None = "50", time: str = "24h"
) -> HTMLResponse:
    web_actor(request)
    try:
        value = evidence_view.check(agent, dose, time)
    except ServiceError as exc:
        return error_page(request, exc)
    from raad.services import living
    from raad.services.cohort_evidence import cohort_evidence

    ctx = await run_in_threadpool(evidence_view.context, agent, value, time)
    clinic = await call(request, cohort_evidence, agent, write=False)
    log = await call(request, lambda s, actor: living.history(s, limit=5), write=False)
    strata = [x for x in clinic["strata"] if x["time"] == time]
    return render(
        request,
        "evidence.html",
        **ctx,
        strata=strata,
        min_cell=clinic["min_cell_size"],
        log=log,
        summary=living.summary,
    )


@router.get("/evidence/forest.svg")
async def evidence_forest(
    request: Request, agent: str = "n2o", dose: str | None = "50", time: str = "24h"
) -> Response:
    web_actor(request)
    try:
        value = evidence_view.check(agent, dose, time)
    except ServiceError as exc:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    svg = await run_in_threadpool(evidence_view.forest_svg, agent, value, time)
    if svg is None:
        return Response("fewer than two trials: nothing to pool", status_code=404)
    return Response(svg, media_type="image/svg+xml")
