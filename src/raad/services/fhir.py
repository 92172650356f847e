"""FHIR R4 in and out of the registry: a patient's Bundle, and Bundles (or NDJSON) imported as
a patient's facts and antidepressant history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.clinical.errors import ClinicalInputError
from raad.clinical.screening import screen
from raad.interop import fhir_export
from raad.interop.fhir_read import MAX_ENTRIES, read_bundle
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
    """The Bundle minus antidepressant-trial statements (they are history, not current meds)
    and raad's own session records."""
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
        if r.get("resourceType") == "MedicationAdministration" and any(
            isinstance(i, dict) and i.get("system") == fhir_export.SESSION_SYSTEM
            for i in r.get("identifier") or []
        ):
            continue  # raad's own session records: kept by the registry, not facts to import
        keep.append(e)
    return {**bundle, "entry": keep}


def merge_facts(
    stored: dict[str, Any], incoming: dict[str, Any], withdrawn: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The stored facts updated by an import, and what the import removed.

    An entry from a FHIR resource replaces the stored entry of the same resource; stored entries
    the import does not mention are kept (a re-import with fewer resources never deletes); an
    entry whose resource the import marks entered-in-error or refuted is removed (and listed).
    A fact the import gives (blood pressure, B12, pregnancy ...) replaces the stored one; a
    fact it does not give is kept.
    """
    out = dict(stored)
    removed: list[str] = []
    gone = set(withdrawn)
    for key in ("conditions", "medications", "allergies"):
        new = incoming.get(key)
        old = stored.get(key)
        if new is None and not (old and gone):
            continue
        new = new or []
        sent = {e.get("resource") for e in new if e.get("resource")}
        kept = []
        for e in old or []:
            ref = e.get("resource") if isinstance(e, dict) else None
            if ref and ref in gone:
                removed.append(f"{ref} ({key[:-1]}: marked entered-in-error or refuted)")
                continue
            if ref and ref in sent:
                continue  # replaced by the import's version
            if e in new:
                continue
            kept.append(e)
        out[key] = kept + list(new) if (kept or new or old is not None) else old
    for k, v in incoming.items():
        if k in ("conditions", "medications", "allergies"):
            continue
        if k in ("fact_sources", "fact_notes"):
            out[k] = {**(stored.get(k) or {}), **v}
            continue
        out[k] = v
    # a fact the import found too old (a note) and did not replace stays as stored
    return out, removed


def import_bundle(
    db: Session, actor: Actor, bundle: dict[str, Any], *, site: str | None = None
) -> dict[str, Any]:
    """Create the patient (or update the one with the same record number at the site) from a
    Bundle (or NDJSON) of FHIR R4 resources, read by the one FHIR reader. Resources about
    another patient are refused and listed; entries raad does not use and codes no screening
    rule knows are reported, never dropped silently. A re-import updates what it sends and
    never silently deletes what it does not send (see ``merge_facts``)."""
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
        read = read_bundle(_without_trials(bundle), as_of=datetime.now(UTC))
    except ClinicalInputError as exc:
        raise InvalidInput(exc.field, exc.value, exc.allowed) from None
    if read.patient_problems:  # who the patient is must be read exactly before registering
        where, _, why = read.patient_problems[0].partition(": ")
        raise InvalidInput(f"bundle.{where}", why, "a valid FHIR R4 Patient element")
    incoming = read.facts.model_dump(
        mode="json", exclude={"age_years", "sex"}, exclude_none=True, exclude_defaults=True
    )
    if read.facts.allergies is None:
        incoming.pop("allergies", None)
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
    removed: list[str] = []
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
                facts=incoming,
            ),
        )
        created = True
    else:
        merged, removed = merge_facts(existing.facts or {}, incoming, read.withdrawn)
        update = PatientUpdate(facts=merged, sex=ident["sex"])
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
        "used": read.used,
        "unused": read.unused,
        "problems": read.problems,
        "removed": removed,
        "unrecognised": unrecognised,
    }
