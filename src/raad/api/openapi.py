"""What the OpenAPI document says beyond the routes: how to authenticate (a bearer token from
``POST /auth/token``, or the browser session cookie with its CSRF header), the headers updates
and creations take (``If-Match``, ``Idempotency-Key``), and the error bodies every route may
answer with, so a client (or a schema-driven test) knows the 4xx and 5xx shapes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from . import responses as shapes

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "InvalidInput, NotFound, Forbidden, ..."},
        "message": {"type": "string"},
        "field": {"type": "string", "description": "the input at fault (4xx on input)"},
        "value": {"description": "what was given (cut to 200 characters)"},
        "allowed": {"type": "string", "description": "what is allowed there"},
    },
    "additionalProperties": True,
}
OPERATION_OUTCOME = {
    "type": "object",
    "description": "FHIR R4 OperationOutcome (the FHIR routes' errors)",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {"type": "array", "minItems": 1, "items": {"type": "object"}},
    },
}
_ERRORS = {
    "400": "Malformed request (a body that is not JSON, a FHIR or CDS request raad cannot read)",
    "401": "Not authenticated",
    "403": "Not allowed for this role or site",
    "404": "No such record",
    "409": "Conflicts with the record's state",
    "412": "The record changed since the version in If-Match: reload and retry",
    "413": "Body too large",
    "422": "Input not allowed: names the field, the value and what is allowed",
    "428": "This change needs an If-Match header (the version it was read at)",
    "429": "Too many login attempts from this address",
    "503": "The database cannot take the request now (Retry-After)",
}
_PUBLIC = {
    ("/health", "get"),
    ("/ping", "get"),
    ("/auth/token", "post"),
    ("/auth/login", "post"),
    ("/cds-services", "get"),
    ("/fhir/Questionnaire", "get"),
    ("/fhir/Questionnaire/{questionnaire_id}", "get"),
    ("/fhir/metadata", "get"),
}
# changes of a versioned record: If-Match required (428 without, 412 when stale)
_IF_MATCH = {
    ("/patients/{patient_id}", "patch"),
    ("/courses/{course_id}", "patch"),
    ("/sessions/{session_id}", "patch"),
    ("/sessions/{session_id}/discharge", "post"),
    ("/courses/{course_id}/lock", "post"),
    ("/courses/{course_id}/unlock", "post"),
}
# creations a retry may repeat safely with the same Idempotency-Key (api/deps.py idempotent)
_IDEMPOTENT = {
    ("/patients", "post"),
    ("/patients/{patient_id}/history", "post"),
    ("/patients/{patient_id}/courses", "post"),
    ("/patients/{patient_id}/assessments", "post"),
    ("/sessions", "post"),
}
# creating POSTs that answer the new record's ETag and Location (deps.created)
_CREATED = {
    ("/patients", "post"),
    ("/patients/{patient_id}/courses", "post"),
    ("/sessions", "post"),
}
_CREATED_HEADERS = {
    "ETag": {
        "description": 'the new record\'s version ("1"): send it as If-Match to update it',
        "schema": {"type": "string"},
    },
    "Location": {"description": "the new record's path", "schema": {"type": "string"}},
}
# answers that are not application/json
_MEDIA = {
    ("/fhir/Questionnaire", "get"): ("application/fhir+json", {"type": "object"}),
    ("/fhir/Questionnaire/{questionnaire_id}", "get"): (
        "application/fhir+json",
        {"type": "object"},
    ),
    ("/fhir/Patient/{patient_id}/$everything", "get"): (
        "application/fhir+json",
        {"type": "object"},
    ),
    ("/fhir/Patient/{patient_id}", "get"): ("application/fhir+json", {"type": "object"}),
    ("/fhir/metadata", "get"): ("application/fhir+json", {"type": "object"}),
}
_MEDIA[("/sessions/{session_id}/rems-form.pdf", "get")] = (
    "application/pdf",
    {"type": "string", "format": "binary"},
)
_MEDIA[("/sessions/{session_id}/record.pdf", "get")] = (
    "application/pdf",
    {"type": "string", "format": "binary"},
)
_MEDIA[("/courses/{course_id}/summary.pdf", "get")] = (
    "application/pdf",
    {"type": "string", "format": "binary"},
)
_MEDIA[("/consents/{consent_id}.pdf", "get")] = (
    "application/pdf",
    {"type": "string", "format": "binary"},
)
_MEDIA[("/fhir/bulkfiles/{export_id}/{resource_type}.{seq}.ndjson", "get")] = (
    "application/fhir+ndjson",  # FHIR Bulk Data output files (api/routes_bulk.py)
    {"type": "string"},
)
_EXPORT = ("/research/export/{table}.{fmt}", "get")
# bodies the routes read themselves (FHIR and CDS Hooks content, read by raad's FHIR reader)
_BODIES = {
    ("/fhir/import", "post"): {
        "description": "A FHIR R4 Bundle (JSON) or resources as NDJSON",
        "required": True,
        "content": {
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
            "application/fhir+ndjson": {"schema": {"type": "string"}},
        },
    },
    ("/cds-services/{service_id}", "post"): {
        "description": "A CDS Hooks request (hook, hookInstance, context, prefetch)",
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the generator that adds the above."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = spec.setdefault("components", {})
        components.setdefault("schemas", {})["Error"] = ERROR
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "POST /auth/token"},
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": "raad_session",
                "description": "browser session from POST /auth/login; changes also need the "
                "X-CSRF-Token header",
            },
        }
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        components["schemas"]["OperationOutcome"] = OPERATION_OUTCOME
        outcome = {
            "application/fhir+json": {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}
        }
        models = {*shapes.RESPONSES.values()}
        refs, defs = models_json_schema(
            [(m, "serialization") for _, m in models]
            + [(m, "serialization") for m in shapes.LIST_RESPONSES.values()],
            ref_template="#/components/schemas/{model}",
        )
        components["schemas"].update(defs.get("$defs", {}))

        def answer(model: Any) -> dict[str, Any]:
            return refs[(model, "serialization")]

        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                responses = op.setdefault("responses", {})
                # FHIR routes answer errors as an OperationOutcome (application/fhir+json);
                # the guard and authentication in front of them answer raad's own error body
                errors = {**ref, **outcome} if path.startswith("/fhir/") else ref
                for code, text in _ERRORS.items():
                    # raad's own error body, also for 422 (not FastAPI's "detail" list)
                    responses[code] = {"description": text, "content": errors}
                if (path, method) not in _PUBLIC:
                    op["security"] = [{"bearer": []}, {"session": []}]
                if (path, method) in shapes.RESPONSES:
                    code, model = shapes.RESPONSES[(path, method)]
                    responses.setdefault(code, {"description": "Success"})["content"] = {
                        "application/json": {"schema": answer(model)}
                    }
                if (path, method) in shapes.LIST_RESPONSES:
                    item = answer(shapes.LIST_RESPONSES[(path, method)])
                    responses["200"]["content"] = {
                        "application/json": {"schema": {"type": "array", "items": item}}
                    }
                if (path, method) in _CREATED:
                    responses.setdefault("201", {"description": "Created"})["headers"] = (
                        _CREATED_HEADERS
                    )
                if (path, method) in _MEDIA:
                    media, schema = _MEDIA[(path, method)]
                    responses["200"]["content"] = {media: {"schema": schema}}
                if (path, method) == _EXPORT:
                    responses["200"]["content"] = {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.apache.parquet": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    }
                if (path, method) in _BODIES:
                    op["requestBody"] = _BODIES[(path, method)]
                params = op.setdefault("parameters", [])
                if (path, method) in _IF_MATCH:
                    params.append(
                        {
                            "name": "If-Match",
                            "in": "header",
                            "required": True,
                            "description": 'the ETag of the version being changed ("3"), a list, or *',
                            "schema": {"type": "string", "minLength": 1},
                        }
                    )
                if (path, method) in _IDEMPOTENT:
                    params.append(
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "a retry with the same key gets the first response",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                        }
                    )
                if not params:
                    del op["parameters"]
        app.openapi_schema = spec
        return spec

    app.openapi = build  # type: ignore[method-assign]
