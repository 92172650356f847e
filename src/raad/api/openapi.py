"""What the OpenAPI document says beyond the routes: how to authenticate (a bearer token from
``POST /auth/token``, or the browser session cookie with its CSRF header), the headers updates
and creations take (``If-Match``, ``Idempotency-Key``), and the error bodies every route may
answer with, so a client (or a schema-driven test) knows the 4xx and 5xx shapes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

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
_ERRORS = {
    "401": "Not authenticated",
    "403": "Not allowed for this role or site",
    "404": "No such record",
    "409": "Conflicts with the record's state",
    "413": "Body too large",
    "422": "Input not allowed: names the field, the value and what is allowed",
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
    ("/research/export/dictionary", "get"),
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
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                responses = op.setdefault("responses", {})
                for code, text in _ERRORS.items():
                    if code == "422" and code in responses:
                        continue  # FastAPI's own validation error entry stays
                    responses.setdefault(code, {"description": text, "content": ref})
                if (path, method) not in _PUBLIC:
                    op["security"] = [{"bearer": []}, {"session": []}]
                params = op.setdefault("parameters", [])
                if method in ("patch",) or path.endswith(("/discharge", "/lock", "/unlock")):
                    params.append(
                        {
                            "name": "If-Match",
                            "in": "header",
                            "required": True,
                            "description": 'the ETag of the version being changed ("3"), a list, or *',
                            "schema": {"type": "string"},
                        }
                    )
                if method == "post" and (path, method) not in _PUBLIC:
                    params.append(
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "a retry with the same key gets the first response",
                            "schema": {"type": "string", "maxLength": 128},
                        }
                    )
                if not params:
                    del op["parameters"]
        app.openapi_schema = spec
        return spec

    app.openapi = build  # type: ignore[method-assign]
