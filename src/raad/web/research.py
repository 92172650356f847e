"""The cohort outcomes (researchers' aggregate view) and the evidence explorer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from raad.services import (
    cohort,
)

from . import evidence_view
from .common import (
    call,
    render,
    web_actor,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


# -- cohort and evidence -------------------------------------------------------------------


@router.get("/cohort", response_class=HTMLResponse)
async def cohort_page(request: Request) -> HTMLResponse:
    rows = await call(request, cohort.outcomes, write=False)
    from raad.services.deid import MIN_CELL

    return render(request, "cohort.html", rows=rows, min_cell=MIN_CELL)


@router.get("/evidence", response_class=HTMLResponse)
async def evidence_page(
    request: Request, agent: str = "n2o", dose: float | None = 50, time: str = "24h"
) -> HTMLResponse:
    web_actor(request)
    ctx = await run_in_threadpool(evidence_view.context, agent, dose, time)
    return render(request, "evidence.html", **ctx)


@router.get("/evidence/forest.svg")
async def evidence_forest(
    request: Request, agent: str = "n2o", dose: float | None = 50, time: str = "24h"
) -> Response:
    web_actor(request)
    svg = await run_in_threadpool(evidence_view.forest_svg, agent, dose, time)
    if svg is None:
        return Response("fewer than two trials: nothing to pool", status_code=404)
    return Response(svg, media_type="image/svg+xml")
