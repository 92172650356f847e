"""FHIR R4 export and import, CDS Hooks 2.0 services, and the de-identified research export."""

from __future__ import annotations

import functools
import io
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from raad.interop import cds_hooks, fhir_client
from raad.services import ServiceError, audit, export, fhir
from raad.services.errors import InvalidInput, NotFound, PayloadTooLarge

from .deps import current_actor, database, run

router = APIRouter(tags=["interoperability"])
FHIR_JSON = "application/fhir+json"
MAX_BYTES = 20 * 1024 * 1024


def outcome(exc: ServiceError) -> JSONResponse:
    """A FHIR OperationOutcome; malformed input is 400 with the path of the offending element."""
    status = 400 if isinstance(exc, InvalidInput) else exc.status
    issue: dict[str, Any] = {
        "severity": "error",
        "code": {
            400: "invalid",
            401: "login",
            403: "forbidden",
            404: "not-found",
            409: "conflict",
            413: "too-costly",
        }.get(status, "processing"),
        "diagnostics": exc.message,
    }
    if "field" in exc.detail:
        issue["expression"] = [str(exc.detail["field"])]
    return JSONResponse(
        {"resourceType": "OperationOutcome", "issue": [issue]},
        status_code=status,
        media_type=FHIR_JSON,
    )


@router.get("/fhir/Questionnaire", summary="raad's rating scales as FHIR R4 (SDC) Questionnaires")
def questionnaires(url: str | None = None, name: str | None = None) -> Response:
    """A searchset Bundle of every instrument's Questionnaire; ``url`` (canonical, a ``|version``
    allowed) or ``name`` narrows it. No patient data: readable without logging in."""
    from raad.interop import fhir_scales
    from raad.scales import names

    found = []
    for n in names():
        q = fhir_scales.questionnaire(n).model_dump(mode="json", exclude_none=True)
        if url and q["url"] != url.split("|")[0]:
            continue
        if name and name.lower() not in {q["name"].lower(), n.lower()}:
            continue
        found.append(
            {"fullUrl": f"Questionnaire/{q['id']}", "resource": q, "search": {"mode": "match"}}
        )
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(found), "entry": found}
    return JSONResponse(bundle, media_type=FHIR_JSON)


@router.get("/fhir/Questionnaire/{questionnaire_id}", summary="One rating scale as a Questionnaire")
def questionnaire(questionnaire_id: str) -> Response:
    from raad.interop import fhir_scales
    from raad.scales import names

    for n in names():
        q = fhir_scales.questionnaire(n)
        if q.id == questionnaire_id:
            return JSONResponse(q.model_dump(mode="json", exclude_none=True), media_type=FHIR_JSON)
    known = ", ".join(fhir_scales.questionnaire(n).id for n in names())
    return outcome(NotFound(f"Questionnaire {questionnaire_id!r} not found; known: {known}"))


def _fhir_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


@router.get("/fhir/metadata", summary="The FHIR CapabilityStatement: what this server serves")
def metadata(request: Request) -> Response:
    from importlib.metadata import version

    from raad.interop.fhir_capability import capability_statement

    return JSONResponse(
        capability_statement(_fhir_base(request), version("raad")), media_type=FHIR_JSON
    )


@router.get(
    "/fhir/Patient/{patient_id}/$everything",
    summary="The patient's record as a FHIR R4 Bundle (by the Patient id the export uses)",
)
def everything(request: Request, patient_id: str) -> Response:
    try:
        body = run(request, fhir.everything, patient_id, base_url=_fhir_base(request))
    except ServiceError as exc:
        return outcome(exc) if exc.status != 401 else _auth(exc)
    return JSONResponse(body, media_type=FHIR_JSON)


@router.get("/fhir/Patient/{patient_id}", summary="One Patient resource by its FHIR id")
def patient_resource(request: Request, patient_id: str) -> Response:
    try:
        body = run(request, fhir.patient, patient_id, base_url=_fhir_base(request))
    except ServiceError as exc:
        return outcome(exc) if exc.status != 401 else _auth(exc)
    return JSONResponse(body, media_type=FHIR_JSON)


def _auth(exc: ServiceError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def _json_body(request: Request) -> Any:
    """The request's JSON body, or the error response to send (413 too large, 400 not JSON)."""
    try:
        return json.loads(await _read_body(request) or b"null")
    except PayloadTooLarge as exc:
        return JSONResponse(exc.to_dict(), status_code=413)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return JSONResponse(
            {"error": "InvalidInput", "message": f"body: not JSON ({exc})", "field": "body"},
            status_code=400,
        )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise PayloadTooLarge(f"{declared} bytes; at most {MAX_BYTES}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise PayloadTooLarge(f"more than {MAX_BYTES} bytes")
    return body


@router.post(
    "/fhir/import",
    summary="Import a Bundle (JSON) or NDJSON of Patient, Condition, MedicationStatement, Observation",
)
async def import_(request: Request, site: str | None = None) -> Response:
    from starlette.concurrency import run_in_threadpool

    try:
        current_actor(request)
        raw = await _read_body(request)
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        text = raw.decode("utf-8", errors="strict")
        if kind in ("application/fhir+ndjson", "application/x-ndjson", "application/ndjson"):
            bundle = fhir.parse_ndjson(text)
        else:
            try:
                bundle = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    "body", text[:60], f"a JSON FHIR Bundle ({exc.msg} at line {exc.lineno})"
                ) from None
        result = await run_in_threadpool(run, request, fhir.import_bundle, bundle, site=site)
    except UnicodeDecodeError:
        return outcome(InvalidInput("body", "(binary)", "UTF-8 JSON"))
    except ServiceError as exc:
        return outcome(exc) if exc.status != 401 else _auth(exc)
    return JSONResponse(result, status_code=201 if result["created"] else 200)


@router.get("/cds-services", summary="CDS Hooks discovery")
def discovery() -> dict[str, Any]:
    return {"services": cds_hooks.SERVICES}


def _cds_actor(request: Request, service_id: str) -> Any:
    """The caller of a CDS service: an EHR's signed JWT (CDS Hooks 2.0 client authentication,
    checked against its trusted JWKS; ``aud`` must be this service's URL) or a raad bearer
    token (a service account)."""
    import os

    from raad.services import cds_trust

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and cds_trust.looks_like_jwt(token):
        here = str(request.url).split("?")[0]
        public = os.environ.get("RAAD_PUBLIC_URL")
        audiences = [here] + ([f"{public.rstrip('/')}/cds-services/{service_id}"] if public else [])
        # feedback: the service's own URL is accepted as the audience too
        audiences += [a.removesuffix("/feedback") for a in audiences if a.endswith("/feedback")]
        with database(request).transaction(write=True) as s:
            actor = cds_trust.verify(s, token, audiences)
        request.state.actor = actor
        return actor
    return current_actor(request)


@router.post(
    "/cds-services/{service_id}",
    summary="CDS Hooks service call (an EHR's signed JWT, or a raad bearer token)",
)
async def cds_call(request: Request, service_id: str) -> Response:
    from starlette.concurrency import run_in_threadpool

    actor = await run_in_threadpool(_cds_actor, request, service_id)
    payload = await _json_body(request)
    if isinstance(payload, JSONResponse):
        return payload
    if service_id not in {s["id"] for s in cds_hooks.SERVICES}:
        return JSONResponse(
            {"error": "NotFound", "message": f"no CDS service {service_id!r}"}, status_code=404
        )
    try:
        cards = await run_in_threadpool(
            functools.partial(cds_hooks.call, fetch=fhir_client.fetch), service_id, payload
        )
    except cds_hooks.CdsPreconditionError as exc:
        return JSONResponse(
            {"error": "PreconditionFailed", "message": str(exc), "field": exc.field},
            status_code=412,
        )
    except cds_hooks.CdsError as exc:
        return JSONResponse(
            {"error": "InvalidInput", "message": str(exc), "field": exc.field}, status_code=400
        )
    await run_in_threadpool(_audit_cds, request, actor, service_id, payload, cards)
    return JSONResponse(cards)


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="CDS Hooks feedback: a card accepted or overridden (with the reason)",
)
async def cds_feedback(request: Request, service_id: str) -> Response:
    from starlette.concurrency import run_in_threadpool

    from raad.services import cds_feedback as feedback

    if service_id not in {s["id"] for s in cds_hooks.SERVICES}:
        return JSONResponse(
            {"error": "NotFound", "message": f"no CDS service {service_id!r}"}, status_code=404
        )
    actor = await run_in_threadpool(_cds_actor, request, service_id + "/feedback")
    payload = await _json_body(request)
    if isinstance(payload, JSONResponse):
        return payload

    def store() -> int:
        with database(request).transaction(write=True) as s:
            return feedback.record(s, actor, service_id, payload)

    stored = await run_in_threadpool(store)
    return JSONResponse({"stored": stored})


def _audit_cds(request: Request, actor: Any, service_id: str, payload: Any, cards: Any) -> None:
    """Every CDS Hooks call is kept: service, the EHR's patient id, how many cards."""
    context = payload.get("context") if isinstance(payload, dict) else None
    patient = context.get("patientId") if isinstance(context, dict) else None
    n = len(cards.get("cards", [])) if isinstance(cards, dict) else 0
    with database(request).transaction(write=True) as s:
        audit.cds_call(s, actor, service_id, patient if isinstance(patient, str) else None, n)


@router.get(
    "/research/export/{table}.{fmt}", summary="De-identified research export (admin, researcher)"
)
def research_export(request: Request, table: str, fmt: str) -> Response:
    import pandas as pd

    if table not in export.TABLES:
        raise InvalidInput("table", table, f"one of {', '.join(export.TABLES)}")
    if fmt not in ("csv", "parquet"):
        raise InvalidInput("format", fmt, "csv or parquet")
    actor = current_actor(request)
    db = database(request)
    with db.transaction(write=False, replica=True) as s:  # the replica, when configured
        tables = export.cohort(s, actor, audited=False)
    with db.transaction() as s:  # recorded on the primary before anything is sent
        export.record_export(s, actor, tables)
    rows = tables[table]
    frame = pd.DataFrame(rows, columns=export.columns(rows) or list(export.DICTIONARY[table]))
    if fmt == "csv":
        return Response(frame.to_csv(index=False), media_type="text/csv")
    buf = io.BytesIO()
    export.to_parquet(frame, buf)
    return Response(buf.getvalue(), media_type="application/vnd.apache.parquet")


@router.get("/research/export/dictionary", summary="The research export's data dictionary")
def research_dictionary(request: Request) -> dict[str, Any]:
    current_actor(request)
    return export.DICTIONARY
