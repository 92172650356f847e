"""De-identified research export: one row per assessment and one per session.

Patients appear only by their pseudonymous research id. Calendar dates are replaced by the day
relative to the patient's first recorded session or assessment (day 0), and the year of birth by
the age in whole years at that day, top-coded at 90 (the HIPAA Safe Harbor convention for ages,
45 CFR 164.514(b)(2)(i)(C)). Names, record numbers, birth dates and free-text notes are never
exported.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.store.models import Administration, Assessment, Course, Patient, Site

from . import audit, deid
from .context import Actor
from .errors import Forbidden

AGE_TOP_CODE = deid.AGE_TOP_CODE  # knowledge/disclosure.yaml (HIPAA Safe Harbor)

TABLES = ("assessments", "sessions")  # the tables of the CSV/Parquet export
DICTIONARY: dict[str, dict[str, str]] = {
    "assessments": {
        "research_id": "Pseudonymous patient id (stable within this registry)",
        "site": "Site code",
        "sex": "female, male, other or empty",
        "age_years": f"Age in whole years at day 0, top-coded at {AGE_TOP_CODE} ('90+')",
        "day": "Days since the patient's first recorded session or assessment (day 0)",
        "instrument": "HAMD-17, HAMD-21, MADRS, QIDS-SR16, PHQ-9, CADSS or C-SSRS",
        "total": "Total score (empty when the record was kept incomplete)",
        "severity": "Severity band of the instrument's default band set",
        "suicide_flag": "true when a suicide item was positive",
        "session_day": "Day of the linked session, if any",
        "item_*": "Item responses, one column per item id",
    },
    "sessions": {
        "research_id": "Pseudonymous patient id",
        "site": "Site code",
        "sex": "female, male, other or empty",
        "age_years": f"Age in whole years at day 0, top-coded at {AGE_TOP_CODE} ('90+')",
        "day": "Days since day 0",
        "agent": "n2o, ketamine, esketamine or naltrexone",
        "regimen": "Regimen id of the course (knowledge/regimens.yaml)",
        "route": "Route of administration",
        "n2o_fraction": "Inspired N2O fraction (0-1)",
        "dose_mg": "Dose in mg",
        "dose_mg_per_kg": "Dose in mg/kg",
        "duration_min": "Duration of administration, minutes",
        "bp_pre_systolic": "mmHg",
        "bp_pre_diastolic": "mmHg",
        "bp_post_systolic": "mmHg",
        "bp_post_diastolic": "mmHg",
        "observation_min": "Post-dose observation, minutes",
        "adverse_events": "Semicolon-separated event:severity pairs; events outside raad's "
        "vocabulary (free text) as 'other (free text withheld)'",
        "cadss_total": "CADSS total (0-92)",
        "discharged": "true when the session was discharged",
    },
    # the FHIR Bulk Data export (GET /fhir/$export, raad export --fhir-ndjson;
    # services/bulk_export.py): not a table, so its name holds a '/' (no /research/export path)
    "fhir/$export": {
        "files": "NDJSON (application/fhir+ndjson): one FHIR R4 resource per line, one resource "
        "type per file, a limited number of resources per file; every patient of every site",
        "Patient": "id and identifier: the pseudonymous research id (the same as research_id "
        "above); gender. No name, record number, birth date, birth year, age or contact",
        "Condition, AllergyIntolerance, MedicationStatement, Observation (screening facts)": "Codes "
        "from SNOMED CT, ICD-10, RxNorm, ATC and LOINC only; the words typed beside them, and "
        "entries without such a code, as '[withheld: free text]'",
        "MedicationStatement (antidepressant trials)": "ATC code, weeks, improvement, dose "
        "adequacy, outcome; the drug name as typed withheld",
        "MedicationAdministration": "One per session: agent (ATC, RxNorm), dose, route, start and "
        "end; the regimen id; no notes, lot numbers or staff",
        "Observation": "Blood pressure (LOINC 85354-9), screening facts, rating-scale totals",
        "QuestionnaireResponse": "Item answers of each rating (SDC)",
        "AdverseEvent": "Events of raad's vocabulary; any other as 'other (free text withheld)'",
        "Flag, DetectedIssue": "Alerts: code, level, raad's message; acknowledgement notes and "
        "who acknowledged withheld",
        "dates": "Every date and date-time (sessions, ratings, alerts, fact dates, times in alert "
        "messages) moved by the patient's own secret offset, 1 to 365 days back, the same for "
        "all of the patient's records and never exported: intervals within a patient hold, "
        "calendar dates are not real. A value that reads as a date but cannot be moved is "
        "'[withheld: date]'",
        "ages": f"Not exported; where raad shows a researcher an age it is top-coded at "
        f"{AGE_TOP_CODE} ('{AGE_TOP_CODE}+') and the birth year of anyone who may be "
        f"{AGE_TOP_CODE} or older is withheld",
        "free text and staff": "Notes, override reasons, unresolved effects, uncoded entries and "
        "every staff name withheld",
        "_since": "Only resources whose record changed at or after the time (raad's record times "
        "and audit trail), with the resources they reference",
        "error files": "OperationOutcome lines: a patient whose record could not be exported, or "
        "who has more sessions or alerts than one export of a patient holds",
    },
}


def _day(t: datetime, zero: datetime) -> int:
    return (t.date() - zero.date()).days


def _age(p: Patient, zero: datetime) -> str | None:
    if p.identity is None or p.identity.birth_date is None:
        return None
    b = p.identity.birth_date
    d = zero.date()
    age = d.year - b.year - ((d.month, d.day) < (b.month, b.day))
    return f"{AGE_TOP_CODE}+" if age >= AGE_TOP_CODE else str(age)


def cohort(
    db: Session, actor: Actor | None, *, audited: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """Rows for the research export; ``actor`` None is the operator on the command line.
    ``audited`` False: the caller read on the read-only connection and records the export
    with :func:`record_export` on the primary before handing the rows out."""
    if actor is not None and actor.role not in ("admin", "researcher"):
        raise Forbidden(
            f"role {actor.role!r} may not export; allowed: admin, researcher", role=actor.role
        )
    patients = {p.id: p for p in db.scalars(select(Patient))}
    sites = {s.id: s.code for s in db.scalars(select(Site))}
    regimens = {c.id: c.regimen for c in db.scalars(select(Course))}
    sessions = list(
        db.scalars(select(Administration).order_by(Administration.patient_id, Administration.start))
    )
    ratings = list(
        db.scalars(select(Assessment).order_by(Assessment.patient_id, Assessment.administered_at))
    )
    zero: dict[int, datetime] = {}
    for t_pid, t in [(a.patient_id, a.start) for a in sessions] + [
        (r.patient_id, r.administered_at) for r in ratings
    ]:
        if t_pid not in zero or t < zero[t_pid]:
            zero[t_pid] = t
    session_day = {a.id: _day(a.start, zero[a.patient_id]) for a in sessions}

    def who(pid: int) -> dict[str, Any]:
        p = patients[pid]
        return {
            "research_id": p.research_id,
            "site": sites[p.site_id],
            "sex": p.sex,
            "age_years": _age(p, zero[pid]),
        }

    rows_a = []
    for r in ratings:
        row = {
            **who(r.patient_id),
            "day": _day(r.administered_at, zero[r.patient_id]),
            "instrument": r.instrument,
            "total": r.total,
            "severity": r.severity,
            "suicide_flag": r.suicide_flag,
            "session_day": session_day.get(r.administration_id) if r.administration_id else None,
        }
        row.update(
            {f"item_{k}": v for k, v in sorted(r.responses.items(), key=lambda kv: _natural(kv[0]))}
        )
        rows_a.append(row)
    rows_s = [
        {
            **who(a.patient_id),
            "day": session_day[a.id],
            "agent": a.agent,
            "regimen": regimens.get(a.course_id),
            "route": a.route,
            "n2o_fraction": a.n2o_fraction,
            "dose_mg": a.dose_mg,
            "dose_mg_per_kg": a.dose_mg_per_kg,
            "duration_min": a.duration_min,
            "bp_pre_systolic": a.bp_pre_systolic,
            "bp_pre_diastolic": a.bp_pre_diastolic,
            "bp_post_systolic": a.bp_post_systolic,
            "bp_post_diastolic": a.bp_post_diastolic,
            "observation_min": a.observation_min,
            "adverse_events": ";".join(
                f"{deid.adverse_event_term(e['event'])}:{e['severity']}" for e in a.adverse_events
            ),
            "cadss_total": a.cadss_total,
            "discharged": a.discharged_at is not None,
        }
        for a in sessions
    ]
    tables = {"assessments": rows_a, "sessions": rows_s}
    if audited:
        record_export(db, actor, tables)
    return tables


def record_export(db: Session, actor: Actor | None, tables: dict[str, list[dict]]) -> None:
    """The audit row of a research export: how many rows and patients it held."""
    people = {r["research_id"] for rows in tables.values() for r in rows}
    audit.record(
        db,
        actor,
        "export",
        "cohort",
        None,
        detail=f"{len(tables['assessments'])} assessments, {len(tables['sessions'])} sessions, "
        f"{len(people)} patients",
    )


def _natural(key: str) -> tuple[int, str]:
    digits = "".join(ch for ch in key if ch.isdigit())
    return (int(digits) if digits else 10**6, key)


def columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    out: dict[str, None] = {}
    for r in rows:
        out.update(dict.fromkeys(r))
    return list(out)


def to_parquet(frame: Any, target: Any) -> None:
    """Write a table as Parquet (pyarrow); columns keep their types, empty cells are nulls."""
    frame.to_parquet(target, index=False, engine="pyarrow")
