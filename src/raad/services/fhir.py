"""FHIR R4 in and out of the registry: a patient's Bundle, and Bundles (or NDJSON) imported as
a patient's facts and antidepressant history."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.clinical.errors import ClinicalInputError
from raad.clinical.facts import MEASURED_FACTS
from raad.clinical.screening import screen
from raad.interop import fhir_export
from raad.interop.fhir_read import MAX_ENTRIES, read_bundle
from raad.store.models import AntidepressantTrial, Course, Patient, PatientIdentity, Site

from . import alerts, assessments, audit, deid, patients, sessions
from .authz import can_read, can_read_identified
from .context import Actor
from .errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from .schemas import IdentityIn, PatientIn, PatientUpdate, TrialIn


def internal_id(db: Session, fhir_id: str | int) -> int:
    """The internal id of the patient whose FHIR Patient.id (the research id, as raad exports
    it) is ``fhir_id``; a whole number is taken as raad's internal id (the older addressing).
    Raises NotFound."""
    if isinstance(fhir_id, int) or str(fhir_id).isdigit():
        return int(fhir_id)
    pid = patients.patient_id_of(db, str(fhir_id))
    if pid is None:
        raise NotFound(f"Patient {fhir_id} not found")
    return pid


def patient(db: Session, actor: Actor, fhir_id: str, base_url: str | None = None) -> dict[str, Any]:
    """The Patient resource by its FHIR id (identifiers only for callers who may see them)."""
    full = everything(db, actor, fhir_id, base_url=base_url)
    return next(e["resource"] for e in full["entry"] if e["resource"]["resourceType"] == "Patient")


def everything(
    db: Session, actor: Actor, patient_id: str | int, base_url: str | None = None
) -> dict[str, Any]:
    """The patient's record as a Bundle; identifiers only for callers who may see them.
    ``patient_id``: the FHIR Patient.id (research id) or raad's internal id."""
    p = patients.load(db, internal_id(db, patient_id))
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
    # every part comes through the service that de-identifies it for a researcher, so the
    # Bundle is built from what the researcher may see and nothing is shifted twice
    return fhir_export.bundle(
        view if identified else deid.redact(view, p.date_shift_days),
        identified=identified,
        history=patients.history(db, actor, p.id),
        sessions=sessions.list_sessions(db, actor, patient_id=p.id, limit=200)["items"],
        regimens=regimens,
        ratings=assessments.list_for(db, actor, p.id),
        alerts=alerts.list_alerts(db, actor, patient_id=p.id, limit=200)["items"],
        base_url=base_url,
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


_MR_TYPE = ("http://terminology.hl7.org/CodeSystem/v2-0203", "MR")  # HL7 v2 table 0203


def _is_mrn(i: dict[str, Any]) -> bool:
    """A medical record number: typed MR (HL7 v2-0203, as US Core marks it), typed 'Medical
    record number' in any case, or a system ending in ':mrn'."""
    t = i.get("type") if isinstance(i.get("type"), dict) else {}
    for c in t.get("coding") or []:
        if isinstance(c, dict) and (c.get("system"), c.get("code")) == _MR_TYPE:
            return True
    if str(t.get("text") or "").strip().lower() in ("medical record number", "mrn"):
        return True
    return str(i.get("system") or "").lower().endswith(":mrn")


def _text(value: Any, field: str, longest: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, type(value).__name__, "a string")
    value = value.strip()
    if len(value) > longest:
        raise InvalidInput(field, f"{len(value)} characters", f"at most {longest}")
    return value or None


def _identity(bundle: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Who the Bundle is about, read exactly (a wrong identity would merge two people):
    name, medical record number (system and value), birth date (a partial one is kept as the
    birth year only) and sex. Bad shapes are 400s naming the element."""
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
    idents = pat.get("identifier") or []
    if not isinstance(idents, list) or not all(isinstance(i, dict) for i in idents):
        raise InvalidInput("Patient.identifier", type(idents).__name__, "a list of Identifiers")
    mrn_ident = next((i for i in idents if _is_mrn(i)), None)
    mrn = _text(mrn_ident.get("value"), "Patient.identifier.value", 64) if mrn_ident else None
    names = pat.get("name") or [{}]
    if not isinstance(names, list) or not isinstance(names[0], dict):
        raise InvalidInput("Patient.name", type(names).__name__, "a list of HumanNames")
    name = names[0]
    given = name.get("given") or [None]
    if not isinstance(given, list):
        raise InvalidInput("Patient.name.given", type(given).__name__, "a list of strings")
    born = pat.get("birthDate")
    birth_date = birth_year = None
    if isinstance(born, str) and len(born) == 10:
        try:
            birth_date = date.fromisoformat(born)
        except ValueError:
            raise InvalidInput("Patient.birthDate", born, "a FHIR date (YYYY-MM-DD)") from None
    elif isinstance(born, str) and born[:4].isdigit():
        birth_year = int(born[:4])  # partial (YYYY or YYYY-MM): the year is kept
    elif born is not None:
        raise InvalidInput("Patient.birthDate", born, "a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)")
    return {
        "given_name": _text(given[0], "Patient.name.given", 100),
        "family_name": _text(name.get("family"), "Patient.name.family", 100),
        "mrn": mrn,
        "mrn_system": str(mrn_ident.get("system") or "") if mrn_ident else "",
        "birth_date": birth_date,
        "birth_year": birth_year,
        "sex": pat.get("gender") if pat.get("gender") in ("female", "male", "other") else None,
    }, mrn


def _same_person(existing: Patient, ident: dict[str, Any]) -> list[str]:
    """How the stored patient and the imported one differ in who they are (empty: the same)."""
    known = existing.identity
    diffs = []
    if ident["family_name"] and known.family_name.lower() != ident["family_name"].lower():
        diffs.append("family name")
    if ident["birth_date"] and known.birth_date and known.birth_date != ident["birth_date"]:
        diffs.append("birth date")
    year = ident["birth_date"].year if ident["birth_date"] else ident["birth_year"]
    if year and existing.birth_year and existing.birth_year != year:
        diffs.append("birth year")
    if ident["sex"] and existing.sex and existing.sex != ident["sex"]:
        diffs.append("sex")
    return diffs


def _trials(bundle: dict[str, Any]) -> list[TrialIn]:
    out = []
    for i, e in enumerate(bundle.get("entry") or []):
        r = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(r, dict) or r.get("resourceType") != "MedicationStatement":
            continue
        category = r.get("category")
        cats = (
            [c.get("code") for c in (category.get("coding") or []) if isinstance(c, dict)]
            if isinstance(category, dict)
            else []
        )
        if "antidepressant-trial" not in cats:
            continue
        concept = r.get("medicationCodeableConcept")
        concept = concept if isinstance(concept, dict) else {}
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
            if isinstance(ext, dict) and ext.get("url") == fhir_export.TRIAL_EXT:
                for sub in ext.get("extension") or []:
                    value = (
                        next((v for k, v in sub.items() if k.startswith("value")), None)
                        if isinstance(sub, dict)
                        else None
                    )
                    if (
                        not isinstance(sub, dict)
                        or not isinstance(sub.get("url"), str)
                        or value is None
                    ):
                        raise InvalidInput(
                            f"bundle.entry.{i}.resource.extension", sub, "url and value[x]"
                        )
                    values[sub["url"]] = value
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
        r = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(r, dict):
            keep.append(e)
            continue
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

    Entries are keyed by their source and resource (``resource``): an entry from a resource the
    import sends replaces the stored entry of that resource; stored entries the import does not
    mention are kept (a re-import with fewer resources never deletes); an entry whose resource
    the import withdraws (entered in error, refuted, cancelled, not taken) is removed and listed.
    A measured fact (blood pressure, B12, pregnancy, breastfeeding, opioid use) the import gives
    replaces the stored one only if it is at least as recent: an older reading never overwrites
    a newer one. Records the import could not read are listed until a later import reads them.
    """
    out = dict(stored)
    removed: list[str] = []
    gone = set(withdrawn)
    read_now: set[str] = set(gone)
    for key in ("conditions", "medications", "allergies"):
        new = incoming.get(key)
        old = stored.get(key)
        read_now |= {e["resource"] for e in new or [] if e.get("resource")}
        if new is None and not (old and gone):
            continue
        new = new or []
        sent = {e.get("resource") for e in new if e.get("resource")}
        kept = []
        for e in old or []:
            ref = e.get("resource") if isinstance(e, dict) else None
            if ref and ref in gone:
                removed.append(f"{ref} ({key[:-1]}: withdrawn by the record)")
                continue
            if ref and ref in sent:
                continue  # replaced by the import's version
            if e in new:
                continue
            kept.append(e)
        out[key] = kept + list(new) if (kept or new or old is not None) else old
    dates_in = incoming.get("fact_dates") or {}
    dates_old = dict(stored.get("fact_dates") or {})
    sources = dict(stored.get("fact_sources") or {})
    for k in MEASURED_FACTS:
        if incoming.get(k) is None:
            continue
        new_date, old_date = dates_in.get(k), dates_old.get(k)
        if stored.get(k) is not None and old_date and (not new_date or new_date < old_date):
            continue  # the stored reading is newer
        out[k] = incoming[k]
        if new_date:
            dates_old[k] = new_date
        else:
            dates_old.pop(k, None)
        if k in (incoming.get("fact_sources") or {}):
            sources[k] = incoming["fact_sources"][k]
    for k in ("sex", "age_years"):
        if k in incoming:
            out[k] = incoming[k]
    out["fact_dates"], out["fact_sources"] = dates_old, sources
    notes = {**(stored.get("fact_notes") or {}), **(incoming.get("fact_notes") or {})}
    out["fact_notes"] = notes
    still = [u for u in stored.get("unread") or [] if u.split(" (")[0] not in read_now]
    out["unread"] = still + [u for u in incoming.get("unread") or [] if u not in still]
    return {k: v for k, v in out.items() if v not in ({}, [])} | {
        k: out[k] for k in ("conditions", "medications") if k in out
    }, removed


def _namespaced(facts: dict[str, Any], source: str) -> dict[str, Any]:
    """Resource ids are unique only within one server: entries and unread records carry the
    record's source (the record-number system) before their resource id."""
    for key in ("conditions", "medications", "allergies"):
        for e in facts.get(key) or []:
            if e.get("resource"):
                e["resource"] = f"{source}|{e['resource']}"
    facts["unread"] = [f"{source}|{u}" for u in facts.get("unread") or []]
    return facts


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
        if ".birthDate" not in where or ident["birth_date"] is not None:
            raise InvalidInput(f"bundle.{where}", why, "a valid FHIR R4 Patient element")
    meta = bundle.get("meta") if isinstance(bundle.get("meta"), dict) else {}
    source = str(meta.get("source") or ident["mrn_system"] or "record")  # whose resource ids
    incoming = _namespaced(
        read.facts.model_dump(
            mode="json", exclude={"age_years", "sex"}, exclude_none=True, exclude_defaults=True
        ),
        source,
    )
    withdrawn = [f"{source}|{w}" for w in read.withdrawn]
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
    if existing is not None:
        diffs = _same_person(existing, ident)
        if diffs:
            raise Conflict(
                f"record number {mrn} at this site belongs to a patient whose "
                f"{', '.join(diffs)} differ from the imported Patient's: not merged; check the "
                "record number and its system",
                differs=diffs,
            )
    removed: list[str] = []
    notes: list[str] = []
    if ident["birth_year"] is not None:
        notes.append(
            f"Patient.birthDate is partial ({ident['birth_year']}): stored without a birth date, "
            "so age is unknown until a full date is recorded"
        )
    if existing is None:
        missing = [k for k in ("given_name", "family_name", "mrn") if not ident.get(k)]
        if missing:
            raise InvalidInput(
                "Patient",
                ", ".join(missing),
                "a name (given and family) and a medical record number identifier "
                "(typed MR, or a system ending in ':mrn')",
            )
        try:
            identity = IdentityIn(
                **{k: ident[k] for k in ("given_name", "family_name", "mrn", "birth_date")}
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InvalidInput(
                "Patient." + ".".join(str(x) for x in err["loc"]), err.get("input"), err["msg"]
            ) from None
        view = patients.register(
            db,
            actor,
            PatientIn(
                identity=identity,
                sex=ident["sex"],
                site=site if actor.role == "admin" else None,
                facts=incoming,
            ),
        )
        created = True
    else:
        merged, removed = merge_facts(existing.facts or {}, incoming, withdrawn)
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
        "notes": notes,
    }
