"""FHIR Bulk Data export of the de-identified research cohort (HL7 FHIR Bulk Data Access IG
2.0.0, page "Export"; the FHIR Asynchronous Request Pattern, https://hl7.org/fhir/R4/async.html).

- ``GET /fhir/$export`` and ``GET /fhir/Patient/$export`` ("Bulk Data Kick-off Request"; the
  same export: every resource raad keeps is in a patient's compartment): ``Prefer:
  respond-async`` required, ``Accept`` (if sent) must take ``application/fhir+json``; ``_type``,
  ``_since`` and ``_outputFormat`` (NDJSON); admin and researcher only. 202 with
  ``Content-Location`` (the status URL); the export runs after the answer. Kick-off by POST with
  a Parameters body, and Group-level export, are not offered (405 and 404).
- ``GET /fhir/bulkstatus/{id}`` ("Bulk Data Status Request"): 202 with ``X-Progress`` and
  ``Retry-After`` while in progress; 200 with the JSON manifest and ``Expires`` when complete;
  500 with an OperationOutcome when the export failed; 404 when cancelled, expired, unknown or
  another user's (admins see every export).
- ``DELETE /fhir/bulkstatus/{id}`` ("Bulk Data Delete Request"): 202; the files go.
- ``GET /fhir/bulkfiles/{id}/{type}.{seq}.ndjson`` ("Bulk Data Output File Request"):
  ``application/fhir+ndjson``, with the same bearer token (``requiresAccessToken: true``).

Errors are OperationOutcomes naming the header or parameter (400), except 401 (raad's error body
with ``WWW-Authenticate``, as every route answers an unauthenticated call).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTasks

from raad.services import ServiceError, bulk_export
from raad.services.context import Actor
from raad.services.errors import InvalidInput

from .deps import database, error_response, run
from .routes_fhir import FHIR_JSON, _fhir_base, outcome

router = APIRouter(tags=["interoperability"])
NDJSON = "application/fhir+ndjson"
_ACCEPTABLE = {"application/fhir+json", "application/json", "application/*", "*/*"}

_OUTCOME = {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}
_KICK_OFF: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: poll the status URL in Content-Location",
        "headers": {
            "Content-Location": {
                "description": "the status URL (GET to poll, DELETE to cancel)",
                "required": True,
                "schema": {"type": "string"},
            }
        },
        "content": _OUTCOME,
    }
}
_MANIFEST = {
    "type": "object",
    "description": "Bulk Data complete-status manifest",
    "required": ["transactionTime", "request", "requiresAccessToken", "output", "error"],
    "properties": {
        "transactionTime": {"type": "string"},
        "request": {"type": "string"},
        "requiresAccessToken": {"type": "boolean"},
        "output": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "url"],
                "properties": {
                    "type": {"type": "string"},
                    "url": {"type": "string"},
                    "count": {"type": "integer"},
                },
            },
        },
        "error": {"type": "array", "items": {"type": "object"}},
    },
}
_STATUS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Complete: the manifest (Expires: when the files go)",
        "content": {"application/json": {"schema": _MANIFEST}},
    },
    202: {
        "description": "In progress (X-Progress, Retry-After)",
        "headers": {
            "X-Progress": {"description": "e.g. 12/40 patients", "schema": {"type": "string"}},
            "Retry-After": {"description": "seconds", "schema": {"type": "string"}},
        },
    },
    500: {"description": "The export failed (the reason)", "content": _OUTCOME},
}
_CANCEL: dict[int | str, dict[str, Any]] = {
    202: {"description": "Cancelled; its files deleted", "content": _OUTCOME}
}
_TYPE_HELP = f"Comma-separated resource types (repeatable): {', '.join(bulk_export.RESOURCE_TYPES)}"
_SINCE_HELP = "FHIR instant: only resources changed at or after it (e.g. 2026-01-05T00:00:00Z)"
_FORMAT_HELP = f"One of {', '.join(bulk_export.OUTPUT_FORMATS)} (the default)"
_PREFER_HELP = "Required: respond-async"

Types = Annotated[list[str] | None, Query(alias="_type", description=_TYPE_HELP)]
Since = Annotated[str | None, Query(alias="_since", description=_SINCE_HELP)]
OutputFormat = Annotated[str | None, Query(alias="_outputFormat", description=_FORMAT_HELP)]
Prefer = Annotated[str | None, Header(alias="Prefer", description=_PREFER_HELP)]


def _info(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": text}],
    }


def _error(exc: ServiceError) -> Response:
    """401: raad's error body with WWW-Authenticate; otherwise an OperationOutcome (429 with
    Retry-After and the issue code ``throttled``)."""
    if exc.status == 401:
        return error_response(exc)
    answer = outcome(exc)
    if exc.status != 429:
        return answer
    body = json.loads(bytes(answer.body))
    body["issue"][0]["code"] = "throttled"
    retry = str(exc.detail.get("retry_after", bulk_export.POLL_AFTER_S))
    return JSONResponse(body, status_code=429, media_type=FHIR_JSON, headers={"Retry-After": retry})


def _async_headers(request: Request) -> None:
    """``Prefer: respond-async`` required, and ``Accept`` (when sent) taking FHIR JSON ("Bulk
    Data Kick-off Request", Headers); InvalidInput naming the header otherwise."""
    prefer = request.headers.get("prefer")
    names = {p.split(";")[0].split("=")[0].strip().lower() for p in (prefer or "").split(",") if p}
    if "respond-async" not in names:
        raise InvalidInput(
            "Prefer", prefer, "respond-async (a bulk export runs asynchronously: send the header)"
        )
    accept = request.headers.get("accept")
    if accept is not None and accept.strip():
        ranges = {p.split(";")[0].strip().lower() for p in accept.split(",")}
        if not ranges & _ACCEPTABLE:
            raise InvalidInput("Accept", accept, "application/fhir+json")


def _kick_off(request: Request) -> Response:
    def start(db: Any, actor: Actor) -> str:
        bulk_export.require_exporter(actor)
        _async_headers(request)
        types, since = bulk_export.check_parameters(request.query_params.multi_items())
        return bulk_export.kick_off(db, actor, str(request.url), types, since)

    try:
        export_id = run(request, start)
    except ServiceError as exc:
        return _error(exc)
    location = f"{_fhir_base(request)}/bulkstatus/{export_id}"
    tasks = BackgroundTasks()
    tasks.add_task(bulk_export.run, database(request), export_id)
    return JSONResponse(
        _info(f"export accepted: poll {location}"),
        status_code=202,
        media_type=FHIR_JSON,
        headers={"Content-Location": location},
        background=tasks,
    )


@router.get(
    "/fhir/$export",
    status_code=202,
    responses=_KICK_OFF,
    summary="Bulk Data export (async; NDJSON) of the de-identified research cohort",
)
@router.get(
    "/fhir/Patient/$export",
    status_code=202,
    responses=_KICK_OFF,
    summary="Bulk Data export (async; NDJSON) of all patients, de-identified",
)
def export(
    request: Request,
    _type: Types = None,
    _since: Since = None,
    _outputFormat: OutputFormat = None,
    prefer: Prefer = None,
) -> Response:
    """Kick-off, system or Patient level: the same export (everything raad exports belongs to
    a patient; all patients an admin or researcher may read: every site)."""
    return _kick_off(request)


def _instant(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@router.get(
    "/fhir/bulkstatus/{export_id}",
    responses=_STATUS,
    summary="Status of a bulk export: 202 in progress, 200 with the manifest when complete",
)
def bulk_status(request: Request, export_id: str) -> Response:
    try:
        state = run(request, bulk_export.status, export_id)
    except ServiceError as exc:
        return _error(exc)
    tasks = BackgroundTasks()
    for left_behind in state["resume"]:  # jobs whose host never started them: run here
        tasks.add_task(bulk_export.run, database(request), left_behind)
    if state["status"] in ("accepted", "running"):
        progress = (state["progress"] or state["status"])[:99]
        return Response(
            status_code=202,
            headers={"X-Progress": progress, "Retry-After": str(state["retry_after"])},
            background=tasks,
        )
    if state["status"] == "failed":
        failed = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "exception", "diagnostics": state["error"]}],
        }
        return JSONResponse(failed, status_code=500, media_type=FHIR_JSON, background=tasks)
    base = f"{_fhir_base(request)}/bulkfiles/{state['id']}"

    def item(part: dict[str, Any]) -> dict[str, Any]:
        url = f"{base}/{part['type']}.{part['seq']}.ndjson"
        return {"type": part["type"], "url": url, "count": part["count"]}

    manifest = {
        "transactionTime": _instant(state["transaction_time"]),
        "request": state["request"],
        "requiresAccessToken": True,
        "output": [item(p) for p in state["output"]],
        "error": [item(p) for p in state["errors"]],
    }
    expires = format_datetime(state["expires_at"].astimezone(UTC), usegmt=True)
    return JSONResponse(manifest, headers={"Expires": expires}, background=tasks)


@router.delete(
    "/fhir/bulkstatus/{export_id}",
    status_code=202,
    responses=_CANCEL,
    summary="Cancel a bulk export, or release a completed one's files",
)
def bulk_cancel(request: Request, export_id: str) -> Response:
    try:
        done = run(request, bulk_export.cancel, export_id)
    except ServiceError as exc:
        return _error(exc)
    text = (
        f"bulk export {done['id']} cancelled ({done['was']}); {done['files_deleted']} files deleted"
    )
    return JSONResponse(_info(text), status_code=202, media_type=FHIR_JSON)


@router.get(
    "/fhir/bulkfiles/{export_id}/{resource_type}.{seq}.ndjson",
    summary="One NDJSON file of a completed bulk export (the manifest's url)",
)
def bulk_file(request: Request, export_id: str, resource_type: str, seq: int) -> Response:
    try:
        text = run(request, bulk_export.file, export_id, resource_type, seq, write=False)
    except ServiceError as exc:
        return _error(exc)
    return Response(text, media_type=NDJSON)
