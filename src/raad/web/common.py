"""What every page of the web app shares: the templates, the logged-in user, running a service
function in a transaction, rendering, error pages and reading form fields."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from raad.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    DuplicateKey,
    current_actor,
    database,
    touch_if_due,
)
from raad.services import (
    Forbidden,
    ServiceError,
    Unauthorized,
    audit,
    auth,
    patients,
    signatures,
)
from raad.services.context import Actor
from raad.services.schemas import (
    SignatureIn,
)

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _one(value: Any) -> Any:
    """A form field's value from a plan's value: the first of a list of choices (the label's
    56 or 84 mg shows 56), '' for none, numbers without a trailing ".0"."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else value


templates.env.filters["one"] = _one


def _show(value: Any, none: str = "unknown") -> str:
    """A stored value as a person reads it: yes/no for booleans, numbers without a trailing
    ".0", a list as its items (or "none"), ``none`` for a missing value; never Python's own
    spelling ("True", "8.0", "[]")."""
    if value is None:
        return none
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_show(v) for v in value) or "none"
    return str(value)


templates.env.filters["show"] = _show


def zone_of(actor: Any) -> ZoneInfo:
    """The time zone times are shown and typed in: the user's site's (UTC without one), or
    the zone named when ``actor`` is a zone name (a page about another site)."""
    name = actor if isinstance(actor, str) else getattr(actor, "time_zone", None)
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(iso: str | None, actor: Any = None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A stored UTC time (ISO) in the site's time zone, with the zone's abbreviation."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(zone_of(actor)).strftime(fmt)


def typed_time(value: Any, actor: Any) -> str | None:
    """A datetime-local field (typed in the site's time zone) as an ISO time with its offset."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text  # the schema names the field and what is allowed
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone_of(actor))
    return moment.isoformat()


def now_typed(actor: Any) -> str:
    """Now, as a datetime-local field shows it in the site's time zone."""
    return datetime.now(zone_of(actor)).strftime("%Y-%m-%dT%H:%M")


templates.env.filters["local"] = _local
# a fresh token in every form that creates a record (see call_once)
templates.env.globals["form_token"] = lambda: secrets.token_urlsafe(18)
templates.env.globals["sign_meanings"] = signatures.meanings()
templates.env.filters["entry_line"] = (
    patients.entry_line
)  # the line a facts form shows and sends back


class LoginRequired(Exception):  # noqa: N818 - a redirect, not an error
    """No valid browser session: go to the login page."""


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a page of the web app only (never another site)."""
    if (
        not value
        or not value.startswith("/ui/")
        or value.startswith("//")
        or "\\" in value
        or value.startswith("/ui/login")
    ):
        return "/ui/patients"
    return value


def login_redirect(request: Request, _exc: Exception) -> Response:
    """To the login page, then back to the page the user was on: for a form sent with an
    expired session, the page it was sent from (htmx's HX-Current-URL), where raad.js puts back
    what was typed (kept in the tab's sessionStorage, passwords excepted)."""
    from urllib.parse import quote, urlsplit

    if request.headers.get("hx-request"):
        current = urlsplit(request.headers.get("hx-current-url", "")).path or "/ui/patients"
        target = f"/ui/login?next={quote(safe_next(current))}&expired=1"
        return Response(status_code=204, headers={"HX-Redirect": target})
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    nxt = safe_next(here) if request.method == "GET" else "/ui/patients"
    return RedirectResponse(f"/ui/login?next={quote(nxt)}", status_code=303)


def web_actor(request: Request) -> Actor:
    if SESSION_COOKIE not in request.cookies:
        raise LoginRequired
    try:
        return current_actor(request)
    except Unauthorized:
        raise LoginRequired from None


async def call(
    request: Request, fn, *args: Any, write: bool = True, replica: bool = False, **kw: Any
) -> Any:
    """Run a service function in its own transaction, off the event loop (``replica``: a
    read on the read-only connection, when one is configured)."""
    actor = web_actor(request)

    def work():
        try:
            with database(request).transaction(write=write, replica=replica) as s:
                result = fn(s, actor, *args, **kw)
        except Forbidden as exc:  # a refused read or write is kept: who asked for what
            with database(request).transaction(write=True) as s:
                audit.denied(s, actor, f"{request.method} {request.url.path}", exc.message)
            raise
        except auth.CredentialsRefused:
            # a wrong password confirming an action counts toward the lock-out (own transaction)
            with database(request).transaction(write=True) as s:
                auth.count_failed_attempt(s, actor)
            raise
        touch_if_due(request)
        if actor.role == "researcher":  # every researcher read is audited
            with database(request).transaction(write=True) as s:
                audit.researcher_read(s, actor, f"{request.method} {request.url.path}")
        return result

    return await run_in_threadpool(work)


async def call_once(request: Request, form: Any, fn, *args: Any) -> Any:
    """:func:`call`, at most once per filled-in form: the form's ``form_token`` (a fresh one on
    every page) is used as an idempotency key, so a double click or a resubmitted form creates
    one record and the second submission gets the first one's result. The token goes with the
    form's fields: the same token with other fields is refused."""
    from raad.services import idempotency

    key = form.get("form_token")
    if not isinstance(key, str) or not key:
        return await call(request, fn, *args)
    fields = {k: v for k, v in form.multi_items() if k != "form_token" and isinstance(v, str)}
    route = f"web {request.url.path}"

    def once(s, actor: Actor) -> Any:
        return idempotency.run(s, actor, key, route, fields, lambda: fn(s, actor, *args))[1]

    def first(s, actor: Actor) -> Any:
        return idempotency.replay(s, actor, key, route, fields)

    try:
        return await call(request, once)
    except (DuplicateKey, ServiceError):
        # the other click may have committed first (its record can fail this one's checks
        # before its token is seen): then its result, else this refusal
        done = await call(request, first, write=False)
        if done is None:
            raise
        return done[1]


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    actor = getattr(request.state, "actor", None)
    return templates.TemplateResponse(
        request,
        name,
        {"actor": actor, "csrf": request.cookies.get(CSRF_COOKIE, ""), **ctx},
        status_code=status_code,
    )


def fault_page(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str]
) -> HTMLResponse:
    """A database fault or an unexpected error on a web page: the page's own HTML (a fragment
    beside the form for htmx requests), never the API's JSON."""
    exc = ServiceError(body["message"])
    exc.status = status
    if request.headers.get("hx-request"):
        # htmx swaps 2xx answers only: 200 so the message shows beside the form
        page = render(request, "_error.html", exc=exc, status_code=200)
    else:
        page = render(request, "error.html", exc=exc, status_code=status)
    page.headers.update(headers)
    return page


def error_page(request: Request, exc: ServiceError) -> HTMLResponse:
    if request.headers.get("hx-request"):
        return render(request, "_error.html", exc=exc, status_code=200)
    return render(request, "error.html", exc=exc, status_code=exc.status)


def field_error(exc: ValidationError, prefix: str = "") -> ServiceError:
    from raad.services.errors import InvalidInput

    e = exc.errors()[0]
    field = prefix + ".".join(str(p) for p in e["loc"])
    return InvalidInput(field or "form", e.get("input"), e["msg"])


def writers_only(request: Request) -> HTMLResponse | None:
    """The error page for a role that does not record care (a researcher): the forms that plan
    and record sessions show what screening says, which quotes the record as written."""
    from raad.services.errors import Forbidden

    actor = web_actor(request)
    if actor.role == "researcher":
        return error_page(
            request, Forbidden("role 'researcher' does not record care; allowed: admin, clinician")
        )
    return None


def form_version(form) -> int:
    """The record version a form was filled from (the If-Match of the web pages)."""
    from raad.services.errors import InvalidInput

    v = str(form.get("version", "")).strip()
    if not (v.isascii() and v.isdigit()) or not 0 < int(v) < 2**31:
        raise InvalidInput("version", v, "the record version the form was filled from (1, 2, ...)")
    return int(v)


def form_signature(form) -> SignatureIn | None:
    """The e-signature fields of a form (``_sign.html``); None when no password was typed (the
    service then says a signature is needed)."""
    password = form.get("sign_password")
    if not isinstance(password, str) or not password:
        return None
    try:
        return SignatureIn(
            username=str(form.get("sign_username") or ""),
            password=password,
            otp=str(form.get("sign_otp") or "").strip() or None,
        )
    except ValidationError as exc:
        raise field_error(exc, "signature.") from None


def form_text(form, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def form_num(form, key: str) -> float | None:
    v = (form.get(key) or "").strip()
    if not v:
        return None
    try:
        return float(v)
    except ValueError:
        from raad.services.errors import InvalidInput

        raise InvalidInput(key, v, "a number") from None


async def reload_or_error(request: Request, build: Any, then: str | None = None) -> Response:
    """Run ``build()`` (the service function and its arguments, read from the form) in a
    transaction: the page reloads on success (or goes to ``then``, a page of the app that
    confirms the save), the refusal shows beside the form otherwise."""
    try:
        fn, *args = build()
        await call(request, fn, *args)
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    if then:
        return Response(status_code=204, headers={"HX-Redirect": safe_next(then)})
    return Response(status_code=204, headers={"HX-Refresh": "true"})


def override_error(request: Request, exc: ServiceError, value: Any) -> Response:
    """The error, and (when the service asked for an override) the override field with the
    contraindications it gave, swapped into the form."""
    reasons = exc.detail.get("contraindications")
    if exc.detail.get("field") != "override_reason" or not reasons:
        return error_page(request, exc)
    return render(
        request,
        "_override_error.html",
        exc=exc,
        agent=exc.detail.get("agent"),
        reasons=reasons,
        value=value,
        oob=True,
    )
