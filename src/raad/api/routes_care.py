"""Courses, sessions (with safety alerts and discharge) and alerts."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from raad.services import alerts, courses, documents, sessions, signatures
from raad.services.schemas import (
    AcknowledgeIn,
    DischargeIn,
    LockIn,
    SessionIn,
    SessionUpdate,
    UnlockIn,
)

from .deps import aidempotent, aif_match, arun, with_etag

router = APIRouter(tags=["care"])


class CourseStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "completed", "stopped"]
    reason: str | None = Field(
        default=None, max_length=500, description="Why (kept in the audit trail)"
    )


@router.get("/courses/{course_id}", summary="A course with its plan; ETag = version")
async def get_course(request: Request, course_id: int) -> JSONResponse:
    return with_etag(await arun(request, courses.get, course_id, write=False))


@router.patch("/courses/{course_id}", summary="Complete or stop a course (If-Match required)")
async def set_course_status(request: Request, course_id: int, body: CourseStatusIn) -> JSONResponse:
    version = await aif_match(request)
    return with_etag(
        await arun(request, courses.set_status, course_id, body.status, version, body.reason)
    )


@router.post(
    "/courses/{course_id}/lock",
    summary="Sign and lock a completed or stopped course whose sessions are all discharged "
    "(If-Match required; e-signature: your username and password again)",
)
async def lock_course(request: Request, course_id: int, body: LockIn | None = None) -> JSONResponse:
    version = await aif_match(request)
    signature = body.signature if body else None
    return with_etag(await arun(request, courses.lock, course_id, version, signature))


@router.post(
    "/courses/{course_id}/unlock",
    summary="Unlock a locked course with a reason (admin; its lock signature is withdrawn, "
    "kept); If-Match required",
)
async def unlock_course(request: Request, course_id: int, body: UnlockIn) -> JSONResponse:
    version = await aif_match(request)
    return with_etag(await arun(request, courses.unlock, course_id, version, body.reason))


@router.get(
    "/signatures",
    summary="The e-signatures on a record, each checked against the record as it is now",
)
async def list_signatures(
    request: Request,
    entity: Literal["session", "alert", "course", "consent"],
    entity_id: int = Query(ge=1, le=2**31 - 1),
) -> dict[str, Any]:
    return await arun(request, signatures.for_record, entity, entity_id, write=False)


@router.get(
    "/signatures/meanings",
    summary="What each e-signature means: the statement a signer signs, to show before signing",
)
async def signature_meanings() -> dict[str, Any]:
    return signatures.meanings()


@router.post(
    "/sessions", status_code=201, summary="Record a session; the safety monitor runs on it"
)
async def record_session(request: Request, body: SessionIn) -> JSONResponse:
    return await aidempotent(
        request,
        "POST /sessions",
        body,
        lambda s, actor: sessions.record(s, actor, body),
        core_only=True,
        location="/sessions/{id}",
    )


@router.get("/sessions", summary="Sessions, filtered by patient, course or agent")
async def list_sessions(
    request: Request,
    patient_id: int | None = None,
    course_id: int | None = None,
    agent: str | None = None,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    return await arun(
        request,
        sessions.list_sessions,
        patient_id=patient_id,
        course_id=course_id,
        agent=agent,
        limit=limit,
        offset=offset,
        write=False,
    )


@router.get("/sessions/{session_id}", summary="A session with its open alerts; ETag = version")
async def get_session(request: Request, session_id: int) -> JSONResponse:
    return with_etag(await arun(request, sessions.get, session_id, write=False))


@router.patch("/sessions/{session_id}", summary="Complete a session record (If-Match required)")
async def update_session(request: Request, session_id: int, body: SessionUpdate) -> JSONResponse:
    version = await aif_match(request)
    return with_etag(await arun(request, sessions.update, session_id, body, version))


@router.post(
    "/sessions/{session_id}/discharge",
    summary="Discharge (refused before the earliest time the label and the record allow, and "
    "while a blocking alert is unacknowledged); signed: your username and password again",
)
async def discharge(
    request: Request, session_id: int, body: DischargeIn | None = None
) -> JSONResponse:
    version = await aif_match(request)
    signature = body.signature if body else None
    return with_etag(await arun(request, sessions.discharge, session_id, version, signature))


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@router.get(
    "/sessions/{session_id}/rems-form.pdf",
    summary="The SPRAVATO REMS Patient Monitoring Form's data filled from an esketamine "
    "session (PDF, to submit through the REMS)",
)
async def rems_form(request: Request, session_id: int) -> Response:
    pdf = await arun(request, documents.rems_form, session_id)
    return _pdf(pdf, f"rems-session-{session_id}.pdf")


@router.get("/sessions/{session_id}/record.pdf", summary="The printable session record (PDF)")
async def session_record(request: Request, session_id: int) -> Response:
    pdf = await arun(request, documents.session_record, session_id)
    return _pdf(pdf, f"session-{session_id}.pdf")


@router.get("/courses/{course_id}/summary.pdf", summary="The printable course summary (PDF)")
async def course_summary(request: Request, course_id: int) -> Response:
    pdf = await arun(request, documents.course_summary, course_id)
    return _pdf(pdf, f"course-{course_id}.pdf")


@router.post(
    "/sessions/{session_id}/rems-submitted",
    summary="Record that the REMS monitoring form of an esketamine session was submitted",
)
async def rems_submitted(request: Request, session_id: int) -> dict[str, Any]:
    return await arun(request, sessions.rems_submitted, session_id)


@router.get("/alerts", summary="Alerts, optionally only open ones")
async def list_alerts(
    request: Request,
    patient_id: int | None = None,
    open: bool = False,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    return await arun(
        request,
        alerts.list_alerts,
        patient_id=patient_id,
        open_only=open,
        limit=limit,
        offset=offset,
        write=False,
    )


@router.post(
    "/alerts/{alert_id}/acknowledge",
    summary="Acknowledge an alert (recorded with who and when; a discharge-blocking alert needs "
    "a note); signed: your username and password again",
)
async def acknowledge(
    request: Request, alert_id: int, body: AcknowledgeIn | None = None
) -> dict[str, Any]:
    body = body or AcknowledgeIn()
    return await arun(request, alerts.acknowledge, alert_id, body.note, body.signature)
