"""The patient list, registering a patient and the patient page (facts, history, screening)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from raad.knowledge.treatment import regimens
from raad.scales import get as get_instrument
from raad.scales import names
from raad.services import (
    ServiceError,
    alerts,
    assessments,
    consent,
    courses,
    expected,
    living,
    patients,
    screenings,
    self_report,
    sessions,
    summary,
)
from raad.services.context import Actor
from raad.services.schemas import (
    IdentityIn,
    PatientIn,
    PatientUpdate,
    TrialIn,
)

from .common import (
    call,
    call_once,
    error_page,
    field_error,
    form_num,
    form_text,
    form_version,
    reload_or_error,
    render,
    web_actor,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


# -- patients ------------------------------------------------------------------------------


@router.get("/patients", response_class=HTMLResponse)
async def patient_list(request: Request, q: str | None = None, offset: int = 0) -> HTMLResponse:
    try:
        data = await call(request, summary.patient_rows, q, offset)
    except ServiceError as exc:
        return error_page(request, exc)
    if request.headers.get("hx-request"):
        return render(request, "_patient_rows.html", q=q or "", **data)
    notices = await call(request, living.notices, write=False)
    return render(request, "patients.html", q=q or "", notices=notices, **data)


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
        p = await call_once(request, form, patients.register, body)
    except ValidationError as exc:
        return render(request, "_error.html", exc=field_error(exc, "identity."))
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
        "consents": consent.for_patient(s, actor, pid),
        "consent_documents": _latest(consent.documents(s, actor, record["site"])),
        "self_report": self_report.panel(s, actor, pid) if actor.identified_access else None,
        "expected": expected.expected_course(s, actor, pid) if actor.identified_access else None,
    }


def _latest(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest version of each agent's document (the list comes newest first)."""
    seen: dict[str, dict[str, Any]] = {}
    for d in documents:
        seen.setdefault(d["agent"], d)
    return list(seen.values())


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
        diary=diary_rows(data["ratings"], (data["self_report"] or {}).get("links", [])),
    )


def diary_rows(
    ratings: list[dict[str, Any]], links: list[dict[str, Any]] = ()
) -> dict[str, Any] | None:
    """The side-effect diary as a timeline: one row per day answered (the day the link asked
    about when a schedule made it, else the day it was answered), one column per effect (the
    diary instrument's items), newest first."""
    asked = {x["assessment_id"]: x["day"] for x in links if x.get("assessment_id") and x.get("day")}
    entries = [r for r in ratings if r["instrument"] == "LDN-DIARY"]
    if not entries:
        return None
    items = get_instrument("LDN-DIARY").items
    return {
        "items": [{"id": i.id, "label": i.label} for i in items],
        "rows": [
            {
                "day": asked.get(r["id"], r["administered_at"][:10]),
                "values": [r["responses"].get(i.id) for i in items],
            }
            for r in reversed(entries)
        ],
    }


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
            scalars[key] = form_num(form, key)
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
            form_version(form),
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
            weeks=form_num(form, "weeks"),
            adequate_dose={"yes": True, "no": False}.get(form.get("adequate_dose", "")),
            outcome=form.get("outcome") or None,
            current_episode={"yes": True, "no": False}.get(form.get("current_episode", "")),
        )
        await call_once(request, form, patients.add_trial, pid, body)
    except ValidationError as exc:
        return error_page(request, field_error(exc))
    except ServiceError as exc:
        return error_page(request, exc)
    return Response(status_code=204, headers={"HX-Refresh": "true"})


def _reason(form) -> str:
    from raad.services.errors import InvalidInput

    reason = form_text(form, "reason").strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("reason", reason, "why the record changes (1-500 characters)")
    return reason


@router.post("/patients/{pid}/details", response_class=HTMLResponse)
async def edit_details(request: Request, pid: int) -> Response:
    """Name, record number, birth date and sex, with the reason for the change (the record's
    version from the page: a change made meanwhile by someone else is refused, not lost)."""
    form = await request.form()

    def build():
        try:
            body = PatientUpdate(
                identity=IdentityIn(
                    given_name=form_text(form, "given_name"),
                    family_name=form_text(form, "family_name"),
                    mrn=form_text(form, "mrn"),
                    birth_date=form_text(form, "birth_date") or None,
                ),
                sex=form_text(form, "sex") or None,
                reason=_reason(form),
            )
        except ValidationError as exc:
            raise field_error(exc) from None
        return (patients.update, pid, body, form_version(form))

    return await reload_or_error(request, build)


@router.post("/patients/{pid}/history/{trial_id}/remove", response_class=HTMLResponse)
async def remove_trial(request: Request, pid: int, trial_id: int) -> Response:
    form = await request.form()
    return await reload_or_error(
        request, lambda: (patients.delete_trial, pid, trial_id, _reason(form))
    )


@router.post("/patients/{pid}/screen", response_class=HTMLResponse)
async def screen(request: Request, pid: int) -> Response:
    try:
        await call(request, screenings.screen_patient, pid)
    except ServiceError as exc:
        return error_page(request, exc)
    return Response(status_code=204, headers={"HX-Refresh": "true"})
