"""Recording a session (with live alerts), the session page, acknowledging alerts and
discharging."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from raad.interop.pdf import rems_points
from raad.knowledge.rems import load_rems
from raad.knowledge.treatment import monitoring
from raad.services import (
    ServiceError,
    alerts,
    courses,
    screenings,
    sessions,
)
from raad.services.context import Actor
from raad.services.schemas import (
    ADVERSE_EVENT_TERMS,
    SessionIn,
    SessionUpdate,
    VitalsIn,
)

from .common import (
    call,
    call_once,
    error_page,
    field_error,
    form_num,
    form_signature,
    form_text,
    form_version,
    now_typed,
    override_error,
    reload_or_error,
    render,
    typed_time,
    web_actor,
    writers_only,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


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
    if refused := writers_only(request):
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
        now=now_typed(web_actor(request)),
        vital_rows=VITAL_ROWS,
        rems=load_rems(),
        moaas=monitoring().sedation_scale,
    )


# rows of the vital-signs series on the form: the REMS form's three readings and two more
VITAL_ROWS = ("before dosing", "40 min after dosing", "later", "later", "before leaving")


def _vitals(form, actor: Any) -> list[dict[str, Any]] | None:
    """The filled rows of the series (a row with nothing typed is skipped)."""
    rows = []
    for i in range(len(VITAL_ROWS)):
        keys = ("systolic", "diastolic", "heart_rate", "spo2")
        row: dict[str, Any] = {k: form_num(form, f"v{i}_{k}") for k in keys}
        level = (form.get(f"v{i}_moaas") or "").strip()
        row["moaas"] = int(level) if level.isdigit() else None
        if all(v is None for v in row.values()):
            continue
        row["time"] = typed_time(form.get(f"v{i}_time"), actor)
        if row["time"] is None:
            from raad.services.errors import InvalidInput

            raise InvalidInput(f"vitals[{i}].time", "", "the time the reading was taken")
        rows.append(row)
    return rows or None


def _concomitant(form) -> dict[str, bool] | None:
    answers = {
        m.key: form.get(f"cm_{m.key}") == "yes"
        for m in load_rems().concomitant_medicines
        if form.get(f"cm_{m.key}") in ("yes", "no")
    }
    return answers or None


def _checklist(form) -> dict[str, bool] | None:
    shown = form.getlist("check_shown")
    done = set(form.getlist("check"))
    return {c: c in done for c in shown} or None


def _session_in(form, course_id: int, actor: Any = None) -> SessionIn:
    def bp(prefix: str):
        s_, d_ = form_num(form, f"{prefix}_systolic"), form_num(form, f"{prefix}_diastolic")
        return None if s_ is None and d_ is None else {"systolic": s_, "diastolic": d_}

    start = typed_time(form.get("start", ""), actor) or ""  # typed in the site's time zone
    events = [
        {"event": e, "severity": form.get(f"severity_{e}") or "mild"}
        for e in form.getlist("adverse_event")
        if e
    ]
    fraction = form_num(form, "n2o_percent")
    return SessionIn(
        course_id=course_id,
        start=start,
        duration_min=form_num(form, "duration_min"),
        n2o_fraction=None if fraction is None else fraction / 100,
        dose_mg=form_num(form, "dose_mg"),
        dose_mg_per_kg=form_num(form, "dose_mg_per_kg"),
        bp_pre=bp("bp_pre"),
        bp_post=bp("bp_post"),
        bp_post_min=form_num(form, "bp_post_min"),
        observation_min=form_num(form, "observation_min"),
        adverse_events=events,
        unresolved=["dissociation"] if form.get("dissociation_unresolved") else [],
        cadss_total=form_num(form, "cadss_total"),
        notes=form.get("notes") or None,
        override_reason=form.get("override_reason") or None,
        vitals=_vitals(form, actor),
        lot_numbers=[x.strip() for x in (form.get("lot_numbers") or "").split(",") if x.strip()]
        or None,
        concomitant=_concomitant(form),
        checklist=_checklist(form),
        observed_by=(form.get("observed_by") or "").strip() or None,
        ready_to_leave_at=typed_time(form.get("ready_to_leave_at"), actor),
    )


@router.post("/courses/{course_id}/sessions/preview", response_class=HTMLResponse)
async def session_preview(request: Request, course_id: int) -> HTMLResponse:
    """Live safety alerts while the form is filled (nothing is written)."""
    if refused := writers_only(request):
        return refused
    form = await request.form()
    try:
        result = await call(
            request, sessions.preview, _session_in(form, course_id, web_actor(request)), write=False
        )
    except ValidationError as exc:
        return render(request, "_error.html", exc=field_error(exc))
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
        data = _session_in(form, course_id, web_actor(request))
        s = await call_once(request, form, sessions.record, data)
    except ValidationError as exc:
        return error_page(request, field_error(exc))
    except ServiceError as exc:
        return override_error(request, exc, form.get("override_reason"))
    return Response(status_code=204, headers={"HX-Redirect": f"/ui/sessions/{s['id']}"})


def _session_page(s, actor: Actor, session_id: int, whole: bool = False) -> dict[str, Any]:
    """The session with its course; for the whole page also whose session it is (an
    identified, audited read for clinicians and admins; the research id for researchers)."""
    rec = sessions.get(s, actor, session_id)
    c = courses.get(s, actor, rec["course_id"])
    out: dict[str, Any] = {"s": rec, "course": c}
    if whole:
        out["patient"] = sessions.whose(s, actor, session_id)
    return out


# what a save confirms on the reloaded page (?saved=...; fixed words, never the query's text)
SAVED = {"reading": "Reading saved.", "observation": "Observation saved."}


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(request: Request, session_id: int, saved: str | None = None) -> HTMLResponse:
    partial = bool(request.headers.get("hx-request"))
    try:
        ctx = await call(request, _session_page, session_id, not partial)
    except ServiceError as exc:
        return error_page(request, exc)
    template = "_session_alerts.html" if partial else "session.html"
    return render(
        request,
        template,
        **ctx,
        moaas=monitoring().sedation_scale,
        rems_form=load_rems(),
        now=now_typed(web_actor(request)),
        points=rems_points(ctx["s"]) if ctx["s"].get("rems") else None,
        saved=SAVED.get(saved or ""),
    )


def _add_reading(s_, actor: Actor, session_id: int, row: dict[str, Any], version: int) -> Any:
    """The session's series with one more reading (the services check it with the rest)."""
    current = sessions.get(s_, actor, session_id)
    readings = [
        {k: v for k, v in r.items() if k in VitalsIn.model_fields} for r in current["vitals"]
    ]
    try:
        body = SessionUpdate(vitals=[*readings, row])
    except ValidationError as exc:
        raise field_error(exc, "vitals.") from None
    return sessions.update(s_, actor, session_id, body, version)


@router.post("/sessions/{session_id}/reading", response_class=HTMLResponse)
async def add_reading(request: Request, session_id: int) -> Response:
    """One more timed reading (BP, heart rate, SpO2, MOAA/S), as the session goes on; the page
    reloads with the alerts it raises or clears."""
    form = await request.form()
    actor = web_actor(request)

    def build():
        row: dict[str, Any] = {
            k: form_num(form, k) for k in ("systolic", "diastolic", "heart_rate", "spo2")
        }
        level = form_text(form, "moaas").strip()
        row["moaas"] = int(level) if level.isdigit() else None
        row["time"] = typed_time(form.get("time"), actor)
        if row["time"] is None:
            from raad.services.errors import InvalidInput

            raise InvalidInput("time", "", "the time the reading was taken")
        return (_add_reading, session_id, row, form_version(form))

    return await reload_or_error(request, build, f"/ui/sessions/{session_id}?saved=reading")


@router.post("/sessions/{session_id}/observation", response_class=HTMLResponse)
async def update_observation(request: Request, session_id: int) -> Response:
    """Observation time, whether dissociation has resolved, the CADSS and when the patient was
    ready to leave, as they become known (with the record's version; audited)."""
    form = await request.form()
    actor = web_actor(request)

    def build():
        fields: dict[str, Any] = {
            "observation_min": form_num(form, "observation_min"),
            "cadss_total": form_num(form, "cadss_total"),
            "unresolved": ["dissociation"] if form.get("dissociation_unresolved") else [],
            "ready_to_leave_at": typed_time(form.get("ready_to_leave_at"), actor),
            # needed only when a recorded value is changed (the service says so)
            "reason": form_text(form, "reason").strip() or None,
        }
        try:
            body = SessionUpdate(**fields)
        except ValidationError as exc:
            raise field_error(exc) from None
        return (sessions.update, session_id, body, form_version(form))

    return await reload_or_error(request, build, f"/ui/sessions/{session_id}?saved=observation")


@router.post("/sessions/{session_id}/rems-submitted", response_class=HTMLResponse)
async def rems_submitted(request: Request, session_id: int) -> Response:
    return await reload_or_error(request, lambda: (sessions.rems_submitted, session_id))


@router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
async def acknowledge(request: Request, alert_id: int) -> Response:
    """Acknowledge with the note typed beside the alert. On the session page the alerts are
    shown again (with the refusal beside the alert when the note is missing); on the patient
    page the page is reloaded, or the refusal shown beside the alert."""
    form = await request.form()
    session_id = form.get("session_id")
    try:
        a = await call(
            request, alerts.acknowledge, alert_id, form.get("note"), form_signature(form)
        )
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
        await call(
            request, sessions.discharge, session_id, form_version(form), form_signature(form)
        )
    except ServiceError as exc:
        error = exc
    ctx = await call(request, _session_page, session_id, write=False)
    return render(request, "_session_alerts.html", **ctx, discharge_error=error)
