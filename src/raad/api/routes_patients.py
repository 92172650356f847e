"""Patients: registration, identified record (ETag), summary, history, screening, courses,
assessments."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from raad.services import assessments, courses, patients, screenings, summary
from raad.services.schemas import AssessmentIn, CourseIn, PatientIn, PatientUpdate, TrialIn

from .deps import idempotent, if_match, run, with_etag

router = APIRouter(prefix="/patients", tags=["patients"])


@router.post("", status_code=201, summary="Register a patient (identifiers kept apart)")
def register(request: Request, body: PatientIn) -> JSONResponse:
    return idempotent(
        request,
        "POST /patients",
        body.model_dump(mode="json"),
        lambda s, actor: patients.register(s, actor, body),
    )


@router.get(
    "",
    summary="List patients (identified for clinicians and admins, de-identified for researchers)",
)
def list_patients(
    request: Request,
    q: str | None = Query(None, max_length=100, description="Search name, MRN or research id"),
    site: str | None = Query(None, max_length=32),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    return run(request, patients.list_patients, q=q, site=site, limit=limit, offset=offset)


@router.get("/{patient_id}", summary="The identified record (audited read); ETag = version")
def get_patient(request: Request, patient_id: int) -> JSONResponse:
    return with_etag(run(request, patients.get, patient_id))


@router.patch("/{patient_id}", summary="Update identity, sex or facts (If-Match required)")
def update_patient(request: Request, patient_id: int, body: PatientUpdate) -> JSONResponse:
    version = if_match(request)
    return with_etag(run(request, patients.update, patient_id, body, version))


@router.get("/{patient_id}/summary", summary="Stage, current course, latest scores, open alerts")
def get_summary(request: Request, patient_id: int) -> dict[str, Any]:
    return run(request, summary.summary, patient_id, write=False)


@router.get("/{patient_id}/history", summary="Antidepressant trials")
def get_history(request: Request, patient_id: int) -> list[dict[str, Any]]:
    return run(request, patients.history, patient_id, write=False)


@router.post("/{patient_id}/history", status_code=201, summary="Record an antidepressant trial")
def add_trial(request: Request, patient_id: int, body: TrialIn) -> JSONResponse:
    return idempotent(
        request,
        f"POST /patients/{patient_id}/history",
        body.model_dump(mode="json"),
        lambda s, actor: patients.add_trial(s, actor, patient_id, body),
    )


@router.delete(
    "/{patient_id}/history/{trial_id}", status_code=204, summary="Delete a trial entered in error"
)
def delete_trial(request: Request, patient_id: int, trial_id: int) -> Response:
    run(request, patients.delete_trial, patient_id, trial_id)
    return Response(status_code=204)


@router.post(
    "/{patient_id}/screenings", status_code=201, summary="Screen for every agent and regimen"
)
def screen(request: Request, patient_id: int, as_of: date | None = None) -> dict[str, Any]:
    return run(request, screenings.screen_patient, patient_id, as_of)


@router.get("/{patient_id}/screenings/latest", summary="The latest screening")
def latest_screening(request: Request, patient_id: int) -> dict[str, Any] | None:
    return run(request, screenings.latest, patient_id, write=False)


@router.post("/{patient_id}/courses", status_code=201, summary="Plan a course (dated schedule)")
def plan(request: Request, patient_id: int, body: CourseIn) -> JSONResponse:
    return idempotent(
        request,
        f"POST /patients/{patient_id}/courses",
        body.model_dump(mode="json"),
        lambda s, actor: courses.plan(s, actor, patient_id, body),
    )


@router.get("/{patient_id}/courses", summary="The patient's courses")
def list_courses(request: Request, patient_id: int) -> list[dict[str, Any]]:
    return run(request, courses.list_for, patient_id, write=False)


@router.post(
    "/{patient_id}/assessments",
    status_code=201,
    summary="Record a rating (scored; suicide items raise alerts)",
)
def record_assessment(request: Request, patient_id: int, body: AssessmentIn) -> JSONResponse:
    return idempotent(
        request,
        f"POST /patients/{patient_id}/assessments",
        body.model_dump(mode="json"),
        lambda s, actor: assessments.record(s, actor, patient_id, body),
    )


@router.get("/{patient_id}/assessments", summary="Ratings in time order")
def list_assessments(
    request: Request, patient_id: int, instrument: str | None = None
) -> list[dict[str, Any]]:
    return run(request, assessments.list_for, patient_id, instrument, write=False)
