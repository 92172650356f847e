"""The FastAPI application: REST resources over the services, OpenAPI at /docs."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from raad.services.errors import ServiceError, echo
from raad.store import Database

from . import (
    openapi,
    routes_admin,
    routes_auth,
    routes_bulk,
    routes_care,
    routes_consent,
    routes_fhir,
    routes_patients,
    routes_self_report,
)
from .deps import error_response
from .guard import RequestGuard
from .headers import SecurityHeaders, security_headers

log = logging.getLogger("raad.api")

DESCRIPTION = """
Registry and decision support for rapid-acting antidepressant care (nitrous oxide, ketamine,
esketamine, naltrexone): patients, antidepressant history and TRD stage, screening, course
plans, sessions with safety alerts, rating scales, and an append-only audit trail.

raad supports clinical judgement and never replaces it: every recommendation carries its
reason and its source.

Authenticate with `POST /auth/token` (OAuth2 password form) and send
`Authorization: Bearer <access_token>`. Updates need `If-Match` with the record's ETag;
creating POSTs accept an `Idempotency-Key`.
"""


def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"] if p not in ("body", "query", "path", "header")]
        value = e.get("input")
        allowed = e["msg"]
        if e.get("type") == "missing":
            value, allowed = None, "a value: this field is required"  # input is the parent
        elif e.get("type") == "extra_forbidden":
            allowed = "no such field here (see the request schema in /openapi.json)"
        ctx = e.get("ctx") or {}
        if "expected" in ctx:
            allowed = f"{allowed} ({ctx['expected']})"
        errors.append(
            {"field": ".".join(loc) or e["loc"][0], "value": echo(value), "allowed": allowed}
        )
    first = errors[0] if errors else {"field": "?", "value": None, "allowed": "?"}
    body = {
        "error": "InvalidInput",
        "message": f"{first['field']}: got {first['value']!r}; allowed: {first['allowed']}",
        **first,
        "errors": errors,
    }
    # a web page's bad query or path parameter: its page, not this JSON
    return _web_page(request, 422, body, {}) or JSONResponse(body, status_code=422)


def _service_error(request: Request, exc: ServiceError) -> Response:
    page = _web_page(request, exc.status, exc.to_dict(), {})
    return page or error_response(exc)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        # every method the path takes (Starlette names only those of the first route matched)
        methods = [
            m
            for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
            if any(
                r.matches({**request.scope, "method": m})[0] == Match.FULL
                for r in request.app.router.routes
            )
        ]
        if methods:
            headers["Allow"] = ", ".join(methods)
    return JSONResponse(
        {"error": "HTTPError", "message": str(exc.detail)},
        status_code=exc.status_code,
        headers=headers or None,
    )


RETRY_AFTER_S = 5
# what SQLite and PostgreSQL say when the database itself cannot take the request now: the
# request was not done (its transaction rolled back) and may be sent again later
_UNAVAILABLE = (
    "database is locked",
    "database or disk is full",
    "disk i/o error",
    "readonly database",
    "read-only transaction",
    "no space left on device",
    "could not extend file",
    "the database system is starting up",
    "deadlock detected",  # PostgreSQL broke a lock cycle: this transaction was rolled back
    "the database system is shutting down",
    "connection refused",
    "server closed the connection",
    # asyncpg (the event loop's driver) on a connection the server closed mid-request
    "connection was closed in the middle of operation",
    "connection is closed",
)


def _database_unavailable(request: Request, exc: OperationalError | InterfaceError) -> JSONResponse:
    """503 with ``Retry-After`` for a database that is locked, full, read-only or down; any other
    driver error is a bug and answered as one."""
    text_ = str(exc.orig if exc.orig is not None else exc).lower()
    reason = next((r for r in _UNAVAILABLE if r in text_), None)
    if reason is None:
        return _unexpected(request, exc)
    log.warning("database unavailable: %s", reason)
    body = {
        "error": "ServiceUnavailable",
        "message": f"the database cannot take this now ({reason}); nothing was saved: "
        f"try again in {RETRY_AFTER_S} s",
    }
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    page = _web_page(request, 503, body, headers)
    return page or JSONResponse(body, status_code=503, headers=headers)


def _web_page(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str]
) -> Response | None:
    """The web app's own error page for its pages (``/ui``), when the web app is mounted."""
    render = getattr(request.app.state, "error_page", None)
    if render is None or not request.url.path.startswith("/ui"):
        return None
    return render(request, status, body, headers)


def _conflicting_write(request: Request, exc: IntegrityError) -> Response:
    """A unique index refused a row a concurrent request saved first (the services check
    before writing, so only a race reaches here): 409, nothing saved."""
    log.info("write refused by a constraint: %s", str(exc.orig)[:200])
    body = {
        "error": "Conflict",
        "message": "another request saved a conflicting record at the same moment (for "
        "example the same record number at this site); nothing was saved: reload and check",
    }
    page = _web_page(request, 409, body, {})
    return page or JSONResponse(body, status_code=409)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug
    log.exception("unhandled error", exc_info=exc)
    # answered by Starlette's outermost error middleware, past the security-header middleware:
    # the headers are added here too
    headers = {k.decode(): v.decode() for k, v in security_headers(request.url.path)}
    body = {"error": "InternalError", "message": "internal error"}
    try:
        page = _web_page(request, 500, body, headers)
    except Exception:  # the page itself failed: the plain answer below
        page = None
    return page or JSONResponse(body, status_code=500, headers=headers)


SWAGGER = "swagger-ui-5.35.0"  # vendored in api/static (see its README.md)


def _local_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) from assets served by raad itself, not from a CDN: clinic
    networks are often closed."""
    from pathlib import Path

    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount(
        "/docs-static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="docs-static",
    )
    redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="raad API",
            swagger_js_url=f"/docs-static/{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"/docs-static/{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"/docs-static/{SWAGGER}/favicon-32x32.png",
            oauth2_redirect_url=redirect,
        )

    @app.get(redirect, include_in_schema=False)
    async def docs_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def _cors_origins() -> list[str]:
    """``RAAD_CORS_ORIGINS``: origins allowed to call the API from a browser (comma
    separated, e.g. ``https://sandbox.cds-hooks.org``); none by default."""
    import os

    raw = os.environ.get("RAAD_CORS_ORIGINS", "")
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]


def create_app(db: Database | None = None, *, web: bool = True, **extra: Any) -> FastAPI:
    """The app bound to ``db`` (the configured database when None); the schema must be current
    (``raad db upgrade``, or ``raad serve`` which upgrades)."""
    app = FastAPI(
        title="raad",
        version="0.1.0",
        description=DESCRIPTION,
        **{"docs_url": None, "redoc_url": None, **extra},
    )
    app.state.db = db or Database()
    openapi.install(app)
    app.add_middleware(RequestGuard)  # body size, JSON depth, NUL and surrogates: before routes
    origins = _cors_origins()
    if origins:
        # browser-based EHR sandboxes (e.g. a CDS Hooks sandbox) calling the CDS services and
        # the FHIR face with bearer tokens; never with cookies (the web app's session)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            max_age=600,
        )
    app.add_middleware(SecurityHeaders)  # outermost: on every response, the guard's included
    _local_docs(app)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(IntegrityError, _conflicting_write)
    app.add_exception_handler(Exception, _unexpected)
    for module in (
        routes_auth,
        routes_patients,
        routes_care,
        routes_consent,
        routes_self_report,
        routes_admin,
        routes_bulk,  # before routes_fhir: /fhir/Patient/$export is no Patient id
        routes_fhir,
    ):
        app.include_router(module.router)
    # the page a self-report link opens: served with or without the clinicians' web app
    from raad.web import self_report as patient_pages

    app.include_router(patient_pages.router)
    if web:
        from pathlib import Path

        from fastapi.staticfiles import StaticFiles

        from raad.web import routes as web_routes

        app.include_router(web_routes.router)
        app.include_router(web_routes.root)
        app.add_exception_handler(web_routes.LoginRequired, web_routes.login_redirect)
        app.state.error_page = web_routes.fault_page
        static = Path(web_routes.__file__).parent / "static"
        app.mount("/static", StaticFiles(directory=static), name="static")
    return app
