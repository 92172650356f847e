"""FHIR R4 in and out of the registry: a patient's Bundle, and Bundles (or NDJSON) imported as
a patient's facts and antidepressant history."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.clinical.errors import ClinicalInputError
from raad.clinical.screening import screen
from raad.interop import fhir_export
from raad.interop.fhir_facts import MAX_ENTRIES, facts_from_bundle
from raad.store.models import AntidepressantTrial, Course, Patient, PatientIdentity, Site

from . import alerts, assessments, audit, patients, sessions
from .authz import can_read, can_read_identified
from .context import Actor
from .errors import Forbidden, InvalidInput, PayloadTooLarge
from .schemas import IdentityIn, PatientIn, PatientUpdate, TrialIn


def everything(db: Session, actor: Actor, patient_id: int) -> dict[str, Any]:
    """The patient's record as a Bundle; identifiers only for callers who may see them."""
    p = patients.load(db, patient_id)
    can_read(actor, p)
    identified = True
    try:
        can_read_identified(actor, p)
    except Forbidden:
        identified = False
    view = patients.views.patient(p, identified=True)
    if identified:
        audit.record(db, actor, "read", "fhir-bundle", p.id, patient_id=p.id)
    regimens = {
        c.id: c.regimen for c in db.scalars(select(Course).where(Course.patient_id == p.id))
    }
    return fhir_export.bundle(
        view,
        identified=identified,
        history=[patients.views.trial(t) for t in p.history],
        sessions=sessions.list_sessions(db, actor, patient_id=p.id, limit=200)["items"],
        regimens=regimens,
        ratings=assessments.list_for(db, actor, p.id),
        alerts=alerts.list_alerts(db, actor, patient_id=p.id, limit=200)["items"],
    )


def parse_ndjson(text: str) -> dict[str, Any]:
    """NDJSON (one resource per line) as a collection Bundle."""
    entries = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append({"resource": json.loads(line)})
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"line {n}", line[:80], f"one JSON resource per line ({exc.msg})"
            ) from None
        if len(entries) > MAX_ENTRIES:
            raise PayloadTooLarge(f"more than {MAX_ENTRIES} resources; send them in smaller files")
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _identity(bundle: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    pats = [
        e["resource"]
        for e in bundle.get("entry") or []
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") == "Patient"
    ]
    if len(pats) != 1:
        raise InvalidInput("bundle.entry", f"{len(pats)} Patient resources", "exactly one Patient")
    pat = pats[0]
    mrn = next(
        (
            i.get("value")
            for i in pat.get("identifier") or []
            if str(i.get("system", "")).endswith(":mrn")
            or (i.get("type") or {}).get("text") == "Medical record number"
        ),
        None,
    )
    name = (pat.get("name") or [{}])[0]
    return {
        "given_name": (name.get("given") or [None])[0],
        "family_name": name.get("family"),
        "mrn": mrn,
        "birth_date": pat.get("birthDate"),
        "sex": pat.get("gender") if pat.get("gender") in ("female", "male", "other") else None,
    }, mrn


def _trials(bundle: dict[str, Any]) -> list[TrialIn]:
    out = []
    for i, e in enumerate(bundle.get("entry") or []):
        r = e.get("resource") or {}
        if r.get("resourceType") != "MedicationStatement":
            continue
        cats = [c.get("code") for c in ((r.get("category") or {}).get("coding") or [])]
        if "antidepressant-trial" not in cats:
            continue
        concept = r.get("medicationCodeableConcept") or {}
        atc = next(
            (
                c.get("code")
                for c in concept.get("coding") or []
                if c.get("system") == fhir_export.SYSTEM_URLS["ATC"]
            ),
            None,
        )
        values: dict[str, Any] = {"drug": concept.get("text"), "atc": atc}
        for ext in r.get("extension") or []:
            if ext.get("url") == fhir_export.TRIAL_EXT:
                for sub in ext.get("extension") or []:
                    values[sub["url"]] = next(v for k, v in sub.items() if k.startswith("value"))
        try:
            out.append(TrialIn.model_validate(values))
        except Exception as exc:  # pydantic ValidationError
            raise InvalidInput(
                f"bundle.entry.{i}.resource.extension", values, str(exc).splitlines()[0]
            ) from None
    return out


def _without_trials(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle minus antidepressant-trial statements (they are history, not current meds)."""
    keep = []
    for e in bundle.get("entry") or []:
        r = (e or {}).get("resource") or {}
        cats = (
            [c.get("code") for c in ((r.get("category") or {}).get("coding") or [])]
            if isinstance(r.get("category"), dict)
            else []
        )
        if r.get("resourceType") == "MedicationStatement" and "antidepressant-trial" in cats:
            continue
        keep.append(e)
    return {**bundle, "entry": keep}


def import_bundle(
    db: Session, actor: Actor, bundle: dict[str, Any], *, site: str | None = None
) -> dict[str, Any]:
    """Create the patient (or update the one with the same record number at the site) from a
    Bundle of Patient, Condition, MedicationStatement and Observation resources. Entries raad
    does not use and codes no screening rule knows are reported, never dropped silently."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidInput(
            "resourceType",
            bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__,
            "Bundle",
        )
    if len(bundle.get("entry") or []) > MAX_ENTRIES:
        raise PayloadTooLarge(f"{len(bundle['entry'])} entries; at most {MAX_ENTRIES} per Bundle")
    ident, mrn = _identity(bundle)
    trials = _trials(bundle)
    try:
        read = facts_from_bundle(_without_trials(bundle), as_of=date.today())
    except ClinicalInputError as exc:
        raise InvalidInput(exc.field, exc.value, exc.allowed) from None
    facts = read.facts.model_dump(mode="json", exclude={"age_years", "sex"}, exclude_none=True)
    unrecognised = list(screen(read.facts).unrecognised)
    site_id = actor.site_id
    if actor.role == "admin" and site:
        s = db.scalar(select(Site).where(Site.code == site))
        if s is None:
            raise InvalidInput("site", site, "an existing site code")
        site_id = s.id
    existing = None
    if mrn and site_id is not None:
        existing = db.scalar(
            select(Patient)
            .join(PatientIdentity)
            .where(PatientIdentity.mrn == mrn, Patient.site_id == site_id)
        )
    if existing is None:
        missing = [k for k in ("given_name", "family_name", "mrn") if not ident.get(k)]
        if missing:
            raise InvalidInput(
                "Patient",
                ", ".join(missing),
                "a name (given and family) and a medical record number identifier",
            )
        view = patients.register(
            db,
            actor,
            PatientIn(
                identity=IdentityIn(
                    **{k: ident[k] for k in ("given_name", "family_name", "mrn", "birth_date")}
                ),
                sex=ident["sex"],
                site=site if actor.role == "admin" else None,
                facts=facts,
            ),
        )
        created = True
    else:
        update = PatientUpdate(facts=facts, sex=ident["sex"])
        view = patients.update(db, actor, existing.id, update, existing.version)
        created = False
    pid = view["id"]
    if trials:
        for t in list(
            db.scalars(select(AntidepressantTrial).where(AntidepressantTrial.patient_id == pid))
        ):
            patients.delete_trial(db, actor, pid, t.id)
        for t in trials:
            patients.add_trial(db, actor, pid, t)
    return {
        "patient_id": pid,
        "research_id": view["research_id"],
        "created": created,
        "trials": len(trials),
        "unused": list(read.unused),
        "unrecognised": unrecognised,
    }
