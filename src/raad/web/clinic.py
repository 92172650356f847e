"""Today's clinic: the day's planned and recorded sessions at the site with their state, and
the alert inbox."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from raad.services import ServiceError, clinic
from raad.services.errors import InvalidInput

from .common import call, error_page, render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/today", response_class=HTMLResponse)
async def today(request: Request, day: str | None = None, site: str | None = None) -> HTMLResponse:
    try:
        try:
            when = date.fromisoformat(day) if day else None
        except ValueError:
            raise InvalidInput("day", day, "a date (YYYY-MM-DD)") from None
        data = await call(request, clinic.today, when, site)
    except ServiceError as exc:
        return error_page(request, exc)
    return render(request, "today.html", **data, states=clinic.STATES)
