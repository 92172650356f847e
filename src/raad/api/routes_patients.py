"""Patients: registration, identified record (ETag), summary, history, screening, courses,
assessments."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from raad.services import assessments, courses, expected, patients, screenings, summary
from raad.services.schemas import AssessmentIn, CourseIn, PatientIn, PatientUpdate, TrialIn

from .deps import aidempotent, aif_match, arun, with_etag

router = APIRouter(prefix="/patients", tags=["patients"])


@router.post("", status_code=201, summary="Register a patient (identifiers kept apart)")
async def register(request: Request, body: PatientIn) -> JSONResponse:
    return await aidempotent(
        request,
        "POST /patients",
        body,
        lambda s, actor: patients.register(s, actor, body),
        location="/patients/{id}",
    )


@router.get(
    "",
    summary="List patients (identified for clinicians and admins, de-identified for researchers)",
)
async def list_patients(
    request: Request,
    q: str | None = Query(None, max_length=100, description="Search name, MRN or research id"),
    site: str | None = Query(None, max_length=32),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    return await arun(request, patients.list_patients, q=q, site=site, limit=limit, offset=offset)


@router.get("/{patient_id}", summary="The identified record (audited read); ETag = version")
async def get_patient(request: Request, patient_id: int) -> JSONResponse:
    return with_etag(await arun(request, patients.get, patient_id))


@router.patch("/{patient_id}", summary="Update identity, sex or facts (If-Match required)")
async def update_patient(request: Request, patient_id: int, body: PatientUpdate) -> JSONResponse:
    version = await aif_match(request)
    return with_etag(await arun(request, patients.update, patient_id, body, version))


@router.get("/{patient_id}/summary", summary="Stage, current course, latest scores, open alerts")
async def get_summary(request: Request, patient_id: int) -> JSONResponse:
    # the service returns JSON-ready values, so the response skips FastAPI's encoder
    return JSONResponse(await arun(request, summary.summary, patient_id, write=False))


@router.get(
    "/{patient_id}/expected",
    summary="The expected course: band by time point, reliable change, off-track flag with reasons",
)
async def get_expected(request: Request, patient_id: int) -> dict[str, Any]:
    return await arun(request, expected.expected_course, patient_id, write=False)


@router.get("/{patient_id}/history", summary="Antidepressant trials")
async def get_history(request: Request, patient_id: int) -> list[dict[str, Any]]:
    return await arun(request, patients.history, patient_id, write=False)


@router.post("/{patient_id}/history", status_code=201, summary="Record an antidepressant trial")
async def add_trial(request: Request, patient_id: int, body: TrialIn) -> JSONResponse:
    return await aidempotent(
        request,
        f"POST /patients/{patient_id}/history",
        body,
        lambda s, actor: patients.add_trial(s, actor, patient_id, body),
    )


@router.delete(
    "/{patient_id}/history/{trial_id}", status_code=204, summary="Delete a trial entered in error"
)
async def delete_trial(request: Request, patient_id: int, trial_id: int) -> Response:
    await arun(request, patients.delete_trial, patient_id, trial_id)
    return Response(status_code=204)


@router.post(
    "/{patient_id}/screenings", status_code=201, summary="Screen for every agent and regimen"
)
async def screen(request: Request, patient_id: int, as_of: date | None = None) -> dict[str, Any]:
    return await arun(request, screenings.screen_patient, patient_id, as_of)


@router.get("/{patient_id}/screenings/latest", summary="The latest screening")
async def latest_screening(request: Request, patient_id: int) -> dict[str, Any] | None:
    return await arun(request, screenings.latest, patient_id, write=False)


@router.post("/{patient_id}/courses", status_code=201, summary="Plan a course (dated schedule)")
async def plan(request: Request, patient_id: int, body: CourseIn) -> JSONResponse:
    return await aidempotent(
        request,
        f"POST /patients/{patient_id}/courses",
        body,
        lambda s, actor: courses.plan(s, actor, patient_id, body),
        location="/courses/{id}",
    )


@router.get("/{patient_id}/courses", summary="The patient's courses")
async def list_courses(request: Request, patient_id: int) -> list[dict[str, Any]]:
    return await arun(request, courses.list_for, patient_id, write=False)


@router.post(
    "/{patient_id}/assessments",
    status_code=201,
    summary="Record a rating (scored; suicide items raise alerts)",
)
async def record_assessment(request: Request, patient_id: int, body: AssessmentIn) -> JSONResponse:
    return await aidempotent(
        request,
        f"POST /patients/{patient_id}/assessments",
        body,
        lambda s, actor: assessments.record(s, actor, patient_id, body),
        core_only=True,
    )


@router.get("/{patient_id}/assessments", summary="Ratings in time order")
async def list_assessments(
    request: Request, patient_id: int, instrument: str | None = None
) -> list[dict[str, Any]]:
    return await arun(request, assessments.list_for, patient_id, instrument, write=False)
