"""Self-report from home: links a clinician sends, schedules per course, the patient's contact
details, and the due and missed list. The page a link opens is ``/r/{token}`` (no login; see
``raad.web.self_report``)."""

from __future__ import annotations

import os
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)

from raad.services import schedules, self_report

from .deps import arun

router = APIRouter(tags=["self-report"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkIn(_In):
    instrument: str = Field(max_length=32, description="PHQ-9, QIDS-SR16 or LDN-DIARY")
    due: AwareDatetime | None = Field(default=None, description="When it is due (default now)")
    expires: AwareDatetime | None = Field(
        default=None, description="When it stops working (default: due + the link lifetime)"
    )
    course_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class RevokeIn(_In):
    reason: str = Field(max_length=500, description="Why the link is withdrawn")


class ContactIn(_In):
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(
        default=None, max_length=32, description="International form, e.g. +447700900123"
    )
    channel: Literal["email", "sms", "none"]
    consent: StrictBool = Field(
        default=False, description="The patient agreed to be contacted on this channel"
    )


_HOURS = StrictInt | StrictFloat
_HHMM = r"^[0-9]{2}:[0-9]{2}$"  # ASCII digits (\d would take other scripts' digits too)


class ScheduleIn(_In):
    instrument: str = Field(max_length=32)
    anchor: Literal["session", "daily"]
    offsets_hours: list[_HOURS] | None = Field(
        default=None, max_length=10, description="session: hours after each session's start"
    )
    local_time: str | None = Field(
        default=None, pattern=_HHMM, description="daily: HH:MM in the site's zone"
    )
    days: StrictInt | None = Field(
        default=None, ge=1, le=366, description="daily: for how many days"
    )
    valid_hours: _HOURS | None = Field(default=None, ge=1, le=720)


class ScheduleUpdate(_In):
    active: StrictBool | None = None
    offsets_hours: list[_HOURS] | None = Field(default=None, max_length=10)
    local_time: str | None = Field(default=None, pattern=_HHMM)
    days: StrictInt | None = Field(default=None, ge=1, le=366)
    valid_hours: _HOURS | None = Field(default=None, ge=1, le=720)


def _url(request: Request, out: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in out.items() if k not in ("token", "path")},
        "url": public_base(request) + out["path"],
    }


def public_base(request: Request) -> str:
    """Where patients reach raad: ``RAAD_PUBLIC_URL`` when set (the address messages use
    too), else the address this request came to."""
    return (os.environ.get("RAAD_PUBLIC_URL") or str(request.base_url)).rstrip("/")


@router.post(
    "/patients/{patient_id}/self-report",
    status_code=201,
    summary="A self-report link for one questionnaire (the URL is shown this once)",
)
async def create_link(request: Request, patient_id: int, body: LinkIn) -> dict[str, Any]:
    out = await arun(
        request,
        self_report.create_link,
        patient_id,
        body.instrument,
        body.due,
        body.expires,
        body.course_id,
    )
    return _url(request, out)


@router.get("/patients/{patient_id}/self-report", summary="The patient's self-report links")
async def list_links(request: Request, patient_id: int) -> list[dict[str, Any]]:
    return await arun(request, self_report.list_links, patient_id, write=False)


@router.post("/self-report/{link_id}/revoke", summary="Withdraw a link (with a reason)")
async def revoke(request: Request, link_id: int, body: RevokeIn) -> dict[str, Any]:
    return await arun(request, self_report.revoke, link_id, body.reason)


@router.get(
    "/self-report/due",
    summary="Due and missed questionnaires at a site, with the response rate",
)
async def due(
    request: Request,
    site: str | None = Query(default=None, max_length=32),
    days: int = Query(default=14, ge=1, le=365),
    mine: bool = Query(default=False, description="only the caller's patients"),
) -> dict[str, Any]:
    return await arun(request, self_report.due_list, site, days, mine)


@router.get("/patients/{patient_id}/contact", summary="The patient's contact for messages")
async def get_contact(request: Request, patient_id: int) -> dict[str, Any]:
    return await arun(request, self_report.get_contact, patient_id, write=False)


@router.put(
    "/patients/{patient_id}/contact",
    summary="Set the patient's contact and their consent to be contacted",
)
async def set_contact(request: Request, patient_id: int, body: ContactIn) -> dict[str, Any]:
    return await arun(
        request,
        self_report.set_contact,
        patient_id,
        body.email,
        body.phone,
        body.channel,
        body.consent,
    )


@router.get(
    "/courses/{course_id}/self-report-schedules", summary="A course's self-report schedules"
)
async def list_schedules(request: Request, course_id: int) -> list[dict[str, Any]]:
    return await arun(request, schedules.list_for, course_id, write=False)


@router.post(
    "/courses/{course_id}/self-report-schedules",
    status_code=201,
    summary="Add a self-report schedule to a course",
)
async def add_schedule(request: Request, course_id: int, body: ScheduleIn) -> dict[str, Any]:
    return await arun(request, schedules.add, course_id, body.model_dump())


@router.patch(
    "/self-report-schedules/{schedule_id}", summary="Change or stop a self-report schedule"
)
async def update_schedule(
    request: Request, schedule_id: int, body: ScheduleUpdate
) -> dict[str, Any]:
    return await arun(request, schedules.update, schedule_id, body.model_dump(exclude_unset=True))
