"""Pages of the clinician web app.

Every page calls the same services as the REST API (authorisation, audit and the clinical core
included); templates only display what the services return.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from raad.api import throttle
from raad.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    current_actor,
    database,
    set_session_cookies,
    touch_if_due,
)
from raad.clinical.errors import ClinicalInputError
from raad.knowledge.treatment import monitoring, regimens
from raad.scales import ScaleInputError, get, names
from raad.services import (
    Forbidden,
    ServiceError,
    Unauthorized,
    alerts,
    assessments,
    audit,
    auth,
    cohort,
    courses,
    patients,
    screenings,
    sessions,
    signatures,
    summary,
)
from raad.services.context import Actor
from raad.services.schemas import (
    ADVERSE_EVENT_TERMS,
    AssessmentIn,
    CourseIn,
    IdentityIn,
    PatientIn,
    SessionIn,
    SignatureIn,
    TrialIn,
)
from raad.store.models import Patient

from . import evidence_view
from .plots import trajectory_svg

router = APIRouter(prefix="/ui", include_in_schema=False)
root = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["sign_meanings"] = signatures.meanings()
templates.env.filters["entry_line"] = (
    patients.entry_line
)  # the line a facts form shows and sends back


class LoginRequired(Exception):  # noqa: N818 - a redirect, not an error
    """No valid browser session: go to the login page."""


def login_redirect(request: Request, _exc: Exception) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": "/ui/login"})
    return RedirectResponse("/ui/login", status_code=303)


def web_actor(request: Request) -> Actor:
    if SESSION_COOKIE not in request.cookies:
        raise LoginRequired
    try:
        return current_actor(request)
    except Unauthorized:
        raise LoginRequired from None


async def call(request: Request, fn, *args: Any, write: bool = True, **kw: Any) -> Any:
    """Run a service function in its own transaction, off the event loop."""
    actor = web_actor(request)

    def work():
        try:
            with database(request).transaction(write=write) as s:
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


def _field_error(exc: ValidationError, prefix: str = "") -> ServiceError:
    from raad.services.errors import InvalidInput

    e = exc.errors()[0]
    field = prefix + ".".join(str(p) for p in e["loc"])
    return InvalidInput(field or "form", e.get("input"), e["msg"])


def _writers_only(request: Request) -> HTMLResponse | None:
    """The error page for a role that does not record care (a researcher): the forms that plan
    and record sessions show what screening says, which quotes the record as written."""
    from raad.services.errors import Forbidden

    actor = web_actor(request)
    if actor.role == "researcher":
        return error_page(
            request, Forbidden("role 'researcher' does not record care; allowed: admin, clinician")
        )
    return None


def _version(form) -> int:
    """The record version a form was filled from (the If-Match of the web pages)."""
    from raad.services.errors import InvalidInput

    v = str(form.get("version", "")).strip()
    if not (v.isascii() and v.isdigit()) or not 0 < int(v) < 2**31:
        raise InvalidInput("version", v, "the record version the form was filled from (1, 2, ...)")
    return int(v)


def _signature(form) -> SignatureIn | None:
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
        raise _field_error(exc, "signature.") from None


def _text(form, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _num(form, key: str) -> float | None:
    v = (form.get(key) or "").strip()
    if not v:
        return None
    try:
        return float(v)
    except ValueError:
        from raad.services.errors import InvalidInput

        raise InvalidInput(key, v, "a number") from None


# -- login ---------------------------------------------------------------------------------


@root.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse("/ui/patients", status_code=303)


LOGIN_CSRF_COOKIE = "raad_login_csrf"


def _login_form(request: Request, error: str | None, status_code: int = 200) -> HTMLResponse:
    """The login page with a fresh login-CSRF token: the same random value in a cookie and in
    the form, so a page elsewhere cannot log the browser in to an account of its choosing
    (login CSRF; double-submit, the cookie SameSite=Strict and HttpOnly)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", error=error, login_csrf=token, status_code=status_code)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui/login",
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _login_form(request, None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    sent, expected = str(form.get("login_csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(sent, expected):
        return _login_form(request, "The login form expired: please log in again.", 403)
    if not throttle.allow(request.client.host if request.client else None):
        return _login_form(request, throttle.MESSAGE, 429)

    try:
        otp = str(form.get("otp", "")).strip() or None
        issued = await run_in_threadpool(
            auth.login, database(request), username, password, "cookie", otp
        )
    except ServiceError as exc:
        return _login_form(request, exc.message, 401)
    response = RedirectResponse("/ui/patients", status_code=303)
    set_session_cookies(request, response, issued)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    web_actor(request)

    def work():
        with database(request).transaction() as s:
            auth.revoke_token(s, request.cookies[SESSION_COOKIE])

    await run_in_threadpool(work)
    response = Response(status_code=204, headers={"HX-Redirect": "/ui/login"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


# -- patients ------------------------------------------------------------------------------


def _list_rows(s, actor: Actor, q: str | None) -> dict[str, Any]:
    listing = patients.list_patients(s, actor, q=q, limit=100)
    rows = []
    for p in listing["items"]:
        pid = p.get("id")
        if pid is None:  # researchers: de-identified rows are keyed by research id
            pid = s.scalar(select(Patient.id).where(Patient.research_id == p["research_id"]))
        rows.append({"patient": p, "summary": summary.summary(s, actor, pid)})
    return {"rows": rows, "total": listing["total"]}


@router.get("/patients", response_class=HTMLResponse)
async def patient_list(request: Request, q: str | None = None) -> HTMLResponse:
    data = await call(request, _list_rows, q)
    template = "_patient_rows.html" if request.headers.get("hx-request") else "patients.html"
    return render(request, template, q=q or "", **data)


@router.get("/patients/new", response_class=HTMLResponse)
def new_patient_page(request: Request) -> HTMLResponse:
    web_actor(request)
    return render(request, "patient_new.html", error=None, form={})


@router.post("/patients/new", response_class=HTMLResponse)
async def register_patient(request: Request) -> Response:
    form = await request.form()
    try:
        body = PatientIn(
            identity=IdentityIn(
                given_name=form.get("given_name", ""),
                family_name=form.get("family_name", ""),
                mrn=form.get("mrn", ""),
                birth_date=form.get("birth_date") or None,
            ),
            sex=form.get("sex") or None,
            site=form.get("site") or None,
        )
        p = await call(request, patients.register, body)
    except ValidationError as exc:
        return render(request, "_error.html", exc=_field_error(exc, "identity."))
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    return Response(status_code=204, headers={"HX-Redirect": f"/ui/patients/{p['id']}"})


def _patient_page(s, actor: Actor, pid: int) -> dict[str, Any]:
    record = patients.get(s, actor, pid)
    return {
        "p": record,
        "summary": summary.summary(s, actor, pid),
        "screening": screenings.latest(s, actor, pid),
        "contraindicated": screenings.contraindicated_now(s, actor, pid),
        "courses": courses.list_for(s, actor, pid),
        "sessions": sessions.list_sessions(s, actor, patient_id=pid, limit=200)["items"],
        "ratings": assessments.list_for(s, actor, pid),
        "alerts": alerts.list_alerts(s, actor, patient_id=pid, limit=200)["items"],
    }


@router.get("/patients/{pid}", response_class=HTMLResponse)
async def patient_page(request: Request, pid: int) -> HTMLResponse:
    try:
        data = await call(request, _patient_page, pid)
    except ServiceError as exc:
        return error_page(request, exc)
    return render(
        request,
        "patient.html",
        **data,
        regimens=list(regimens().values()),
        instruments=names(),
        today=date.today().isoformat(),
        needs=_missing_questions(data),
    )


def _missing_questions(data: dict[str, Any]) -> list[str]:
    """The facts the latest screening lacks, to ask for on the page."""
    scr = data.get("screening")
    if not scr:
        return []
    out: list[str] = []
    for a in scr["agents"].values():
        for m in a["missing"]:
            if m not in out:
                out.append(m)
    return out


@router.post("/patients/{pid}/facts", response_class=HTMLResponse)
async def update_facts(request: Request, pid: int) -> Response:
    form = await request.form()
    scalars: dict[str, Any] = {}
    if form.get("b12_status"):
        scalars["b12_status"] = form["b12_status"]
    for key in ("pregnant", "breastfeeding", "opioid_use"):
        if form.get(key) in ("yes", "no"):
            scalars[key] = form[key] == "yes"

    def lines(name: str) -> list[str]:
        return [c.strip() for c in (form.get(name) or "").splitlines() if c.strip()]

    allergies = lines("allergies")
    try:
        for key in ("systolic_mmhg", "diastolic_mmhg"):
            scalars[key] = _num(form, key)
        await call(
            request,
            patients.edit_facts,
            pid,
            scalars,
            {
                "conditions": lines("conditions"),
                "medications": lines("medications"),
                "allergies": allergies if allergies or form.get("no_known_allergies") else None,
            },
            _version(form),
            str(form.get("reason", "")).strip()[:500] or None,
        )
    except ServiceError as exc:
        return error_page(request, exc)
    return Response(status_code=204, headers={"HX-Refresh": "true"})


@router.post("/patients/{pid}/history", response_class=HTMLResponse)
async def add_trial(request: Request, pid: int) -> Response:
    form = await request.form()
    try:
        body = TrialIn(
            drug=form.get("drug") or None,
            atc=form.get("atc") or None,
            weeks=_num(form, "weeks"),
            adequate_dose={"yes": True, "no": False}.get(form.get("adequate_dose", "")),
            outcome=form.get("outcome") or None,
            current_episode={"yes": True, "no": False}.get(form.get("current_episode", "")),
        )
        await call(request, patients.add_trial, pid, body)
    except ValidationError as exc:
        return error_page(request, _field_error(exc))
    except ServiceError as exc:
        return error_page(request, exc)
    return Response(status_code=204, headers={"HX-Refresh": "true"})


@router.post("/patients/{pid}/screen", response_class=HTMLResponse)
async def screen(request: Request, pid: int) -> Response:
    try:
        await call(request, screenings.screen_patient, pid)
    except ServiceError as exc:
        return error_page(request, exc)
    return Response(status_code=204, headers={"HX-Refresh": "true"})


# -- courses -------------------------------------------------------------------------------


def _course_in(form) -> CourseIn:
    return CourseIn(
        regimen=form.get("regimen", ""),
        start=form.get("start", ""),
        weight_kg=_num(form, "weight_kg"),
        override_reason=form.get("override_reason") or None,
    )


def _override_error(request: Request, exc: ServiceError, value: Any) -> Response:
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


@router.post("/patients/{pid}/plan-preview", response_class=HTMLResponse)
async def plan_preview(request: Request, pid: int) -> HTMLResponse:
    from raad.clinical.protocols import plan_course

    if refused := _writers_only(request):
        return refused
    form = await request.form()
    try:
        body = _course_in(form)
        contraindicated = await call(request, screenings.contraindicated_now, pid, write=False)
        course = plan_course(body.regimen, body.start, weight_kg=body.weight_kg)
        open_now = await call(request, screenings.open_items, pid, course.agent, write=False)
    except ValidationError as exc:
        return error_page(request, _field_error(exc))
    except ClinicalInputError as exc:
        from raad.services.errors import InvalidInput

        return error_page(request, InvalidInput(exc.field, exc.value, exc.allowed))
    except ServiceError as exc:
        return error_page(request, exc)
    return render(
        request,
        "_plan.html",
        course=course.to_dict(),
        agent=course.agent,
        reasons=contraindicated.get(course.agent, []),
        open=open_now,
        value=form.get("override_reason") or "",
        oob=True,
    )


@router.post("/patients/{pid}/courses", response_class=HTMLResponse)
async def create_course(request: Request, pid: int) -> Response:
    form = await request.form()
    try:
        c = await call(request, courses.plan, pid, _course_in(form))
    except ValidationError as exc:
        return error_page(request, _field_error(exc))
    except ServiceError as exc:
        return _override_error(request, exc, form.get("override_reason"))
    return Response(status_code=204, headers={"HX-Redirect": f"/ui/courses/{c['id']}/sessions/new"})


# -- sessions ------------------------------------------------------------------------------


def _session_context(s, actor: Actor, course_id: int) -> dict[str, Any]:
    c = courses.get(s, actor, course_id)
    done = sessions.list_sessions(s, actor, course_id=course_id, limit=200)["items"]
    return {
        "course": c,
        "done": done,
        "reasons": courses.contraindications(s, actor, course_id),
        "open": screenings.open_items(
            s, actor, courses.load_course(s, course_id).patient_id, c["agent"]
        ),
    }


@router.get("/courses/{course_id}/sessions/new", response_class=HTMLResponse)
async def new_session_page(request: Request, course_id: int) -> HTMLResponse:
    if refused := _writers_only(request):
        return refused
    try:
        ctx = await call(request, _session_context, course_id, write=False)
    except ServiceError as exc:
        return error_page(request, exc)
    nxt = len(ctx["done"])
    planned = ctx["course"]["plan"]["sessions"]
    return render(
        request,
        "session_new.html",
        **ctx,
        planned=planned[nxt] if nxt < len(planned) else None,
        checks=ctx["course"]["plan"]["sessions"][0]["checks"] if planned else [],
        reading=monitoring().blood_pressure.reading_for(ctx["course"]["agent"]),
        ae_terms=ADVERSE_EVENT_TERMS,
        now=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
    )


def _session_in(form, course_id: int) -> SessionIn:
    def bp(prefix: str):
        s_, d_ = _num(form, f"{prefix}_systolic"), _num(form, f"{prefix}_diastolic")
        return None if s_ is None and d_ is None else {"systolic": s_, "diastolic": d_}

    start = form.get("start", "")
    if start and len(start) == 16:  # datetime-local gives minutes, local time read as UTC
        start = start + ":00+00:00"
    events = [
        {"event": e, "severity": form.get(f"severity_{e}") or "mild"}
        for e in form.getlist("adverse_event")
        if e
    ]
    fraction = _num(form, "n2o_percent")
    return SessionIn(
        course_id=course_id,
        start=start,
        duration_min=_num(form, "duration_min"),
        n2o_fraction=None if fraction is None else fraction / 100,
        dose_mg=_num(form, "dose_mg"),
        dose_mg_per_kg=_num(form, "dose_mg_per_kg"),
        bp_pre=bp("bp_pre"),
        bp_post=bp("bp_post"),
        bp_post_min=_num(form, "bp_post_min"),
        observation_min=_num(form, "observation_min"),
        adverse_events=events,
        unresolved=["dissociation"] if form.get("dissociation_unresolved") else [],
        cadss_total=_num(form, "cadss_total"),
        notes=form.get("notes") or None,
        override_reason=form.get("override_reason") or None,
    )


@router.post("/courses/{course_id}/sessions/preview", response_class=HTMLResponse)
async def session_preview(request: Request, course_id: int) -> HTMLResponse:
    """Live safety alerts while the form is filled (nothing is written)."""
    if refused := _writers_only(request):
        return refused
    form = await request.form()
    try:
        result = await call(request, sessions.preview, _session_in(form, course_id), write=False)
    except ValidationError as exc:
        return render(request, "_error.html", exc=_field_error(exc))
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    return render(
        request,
        "_alerts_preview.html",
        alerts=result["alerts"],
        discharge=result["discharge_not_before"],
    )


@router.post("/courses/{course_id}/sessions", response_class=HTMLResponse)
async def record_session(request: Request, course_id: int) -> Response:
    form = await request.form()
    try:
        data = _session_in(form, course_id)
        s = await call(request, sessions.record, data)
    except ValidationError as exc:
        return error_page(request, _field_error(exc))
    except ServiceError as exc:
        return _override_error(request, exc, form.get("override_reason"))
    return Response(status_code=204, headers={"HX-Redirect": f"/ui/sessions/{s['id']}"})


def _session_page(s, actor: Actor, session_id: int) -> dict[str, Any]:
    rec = sessions.get(s, actor, session_id)
    c = courses.get(s, actor, rec["course_id"])
    return {"s": rec, "course": c}


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(request: Request, session_id: int) -> HTMLResponse:
    try:
        ctx = await call(request, _session_page, session_id, write=False)
    except ServiceError as exc:
        return error_page(request, exc)
    template = "_session_alerts.html" if request.headers.get("hx-request") else "session.html"
    return render(request, template, **ctx)


@router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
async def acknowledge(request: Request, alert_id: int) -> Response:
    """Acknowledge with the note typed beside the alert. On the session page the alerts are
    shown again (with the refusal beside the alert when the note is missing); on the patient
    page the page is reloaded, or the refusal shown beside the alert."""
    form = await request.form()
    session_id = form.get("session_id")
    try:
        a = await call(request, alerts.acknowledge, alert_id, form.get("note"), _signature(form))
    except ServiceError as exc:
        if session_id and str(session_id).isdigit():
            ctx = await call(request, _session_page, int(str(session_id)), write=False)
            return render(request, "_session_alerts.html", **ctx, ack_error={alert_id: exc})
        return error_page(request, exc)
    if a.get("administration_id") and form.get("from") != "patient":
        ctx = await call(request, _session_page, a["administration_id"], write=False)
        return render(request, "_session_alerts.html", **ctx)
    return Response(status_code=204, headers={"HX-Refresh": "true"})


@router.post("/sessions/{session_id}/discharge", response_class=HTMLResponse)
async def discharge(request: Request, session_id: int) -> Response:
    form = await request.form()
    error = None
    try:
        await call(request, sessions.discharge, session_id, _version(form), _signature(form))
    except ServiceError as exc:
        error = exc
    ctx = await call(request, _session_page, session_id, write=False)
    return render(request, "_session_alerts.html", **ctx, discharge_error=error)


async def reload_or_error(request: Request, build: Any) -> Response:
    """Run ``build()`` (the service function and its arguments, read from the form) in a
    transaction: the page reloads on success, the refusal shows beside the form otherwise."""
    try:
        fn, *args = build()
        await call(request, fn, *args)
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    return Response(status_code=204, headers={"HX-Refresh": "true"})


def _status_reason(form) -> str:
    from raad.services.errors import InvalidInput

    reason = _text(form, "reason").strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("reason", reason, "why the status changes (1-500 characters)")
    return reason


@router.post("/courses/{course_id}/status", response_class=HTMLResponse)
async def course_status(request: Request, course_id: int) -> Response:
    """Complete, stop or reopen a course from the patient page, with the reason for the change
    (required here: the web form is where a person edits the record)."""
    form = await request.form()
    return await reload_or_error(
        request,
        lambda: (
            courses.set_status,
            course_id,
            _text(form, "status"),
            _version(form),
            _status_reason(form),
        ),
    )


@router.post("/courses/{course_id}/lock", response_class=HTMLResponse)
async def lock_course(request: Request, course_id: int) -> Response:
    """Sign and lock a course from the patient page; the page reloads, or the refusal shows."""
    form = await request.form()
    return await reload_or_error(
        request, lambda: (courses.lock, course_id, _version(form), _signature(form))
    )


@router.post("/courses/{course_id}/unlock", response_class=HTMLResponse)
async def unlock_course(request: Request, course_id: int) -> Response:
    """Unlock a course (admins) with a reason; the page reloads, or the refusal shows."""
    form = await request.form()
    return await reload_or_error(
        request, lambda: (courses.unlock, course_id, _version(form), _text(form, "reason"))
    )


# -- ratings -------------------------------------------------------------------------------


@router.get("/patients/{pid}/rate/{instrument}", response_class=HTMLResponse)
async def rating_page(request: Request, pid: int, instrument: str) -> HTMLResponse:
    try:
        p = await call(request, patients.get, pid)
        instr = get(instrument)
    except ScaleInputError as exc:
        from raad.services.errors import NotFound

        return error_page(request, NotFound(str(exc)))
    except ServiceError as exc:
        return error_page(request, exc)
    return render(
        request, "rate.html", p=p, instr=instr, now=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
    )


def _responses(instr, form) -> dict[str, int]:
    out = {}
    for item in instr.items:
        raw = (form.get(f"item_{item.id}") or "").strip()
        key = item.id + (
            form.get(f"variant_{item.id}") or next(iter(item.variants), "") if item.variants else ""
        )
        if raw != "":
            try:
                out[key] = int(raw)
            except ValueError:
                raise ScaleInputError(
                    f"{instr.name} item {item.id}", raw, f"{item.min}-{item.max}"
                ) from None
    for extra in instr.extra_items:
        raw = (form.get(f"item_{extra.id}") or "").strip()
        if raw != "":
            out[extra.id] = int(raw)
    return out


@router.post("/rate/{instrument}/preview", response_class=HTMLResponse)
async def rating_preview(request: Request, instrument: str) -> HTMLResponse:
    web_actor(request)
    form = await request.form()
    instr = get(instrument)
    try:
        score = instr.score(_responses(instr, form), allow_incomplete=True)
    except ScaleInputError as exc:
        return render(request, "_score.html", score=None, error=str(exc), instr=instr)
    return render(request, "_score.html", score=score, error=None, instr=instr)


@router.post("/patients/{pid}/rate/{instrument}", response_class=HTMLResponse)
async def record_rating(request: Request, pid: int, instrument: str) -> Response:
    form = await request.form()
    try:
        instr = get(instrument)
    except ScaleInputError as exc:
        from raad.services.errors import InvalidInput

        return render(
            request, "_error.html", exc=InvalidInput("instrument", exc.value, exc.allowed)
        )
    when = form.get("administered_at", "")
    if len(when) == 16:
        when += ":00+00:00"
    try:
        body = AssessmentIn(
            instrument=instr.name, responses=_responses(instr, form), administered_at=when
        )
        await call(request, assessments.record, pid, body)
    except ValidationError as exc:
        return render(request, "_error.html", exc=_field_error(exc))
    except ScaleInputError as exc:
        from raad.services.errors import InvalidInput

        return render(request, "_error.html", exc=InvalidInput(exc.field, exc.value, exc.allowed))
    except ServiceError as exc:
        return render(request, "_error.html", exc=exc)
    return Response(status_code=204, headers={"HX-Redirect": f"/ui/patients/{pid}#ratings"})


@router.get("/patients/{pid}/trajectory.svg")
async def trajectory(request: Request, pid: int) -> Response:
    def data(s, actor, pid):
        return (
            assessments.list_for(s, actor, pid),
            sessions.list_sessions(s, actor, patient_id=pid, limit=200)["items"],
        )

    try:
        ratings, done = await call(request, data, pid, write=False)
    except ServiceError as exc:
        return Response(exc.message, status_code=exc.status)
    svg = await run_in_threadpool(trajectory_svg, ratings, done)
    return Response(svg, media_type="image/svg+xml")


# -- cohort and evidence -------------------------------------------------------------------


@router.get("/cohort", response_class=HTMLResponse)
async def cohort_page(request: Request) -> HTMLResponse:
    rows = await call(request, cohort.outcomes, write=False)
    from raad.services.deid import MIN_CELL

    return render(request, "cohort.html", rows=rows, min_cell=MIN_CELL)


@router.get("/evidence", response_class=HTMLResponse)
async def evidence_page(
    request: Request, agent: str = "n2o", dose: float | None = 50, time: str = "24h"
) -> HTMLResponse:
    web_actor(request)
    ctx = await run_in_threadpool(evidence_view.context, agent, dose, time)
    return render(request, "evidence.html", **ctx)


@router.get("/evidence/forest.svg")
async def evidence_forest(
    request: Request, agent: str = "n2o", dose: float | None = 50, time: str = "24h"
) -> Response:
    web_actor(request)
    svg = await run_in_threadpool(evidence_view.forest_svg, agent, dose, time)
    if svg is None:
        return Response("fewer than two trials: nothing to pool", status_code=404)
    return Response(svg, media_type="image/svg+xml")
