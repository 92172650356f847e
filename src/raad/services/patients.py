"""Registering patients, their facts and their antidepressant history."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from raad.clinical.errors import ClinicalInputError
from raad.clinical.facts import MEASURED_FACTS
from raad.clinical.screening import PatientFacts
from raad.clinical.staging import Trial, trd_status
from raad.store.core import Executor, table
from raad.store.models import AntidepressantTrial, Patient, PatientIdentity, Site, utcnow

from . import audit, deid, views
from .authz import can_read, can_read_identified, can_write
from .context import Actor
from .errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from .paging import page
from .preconditions import IfMatch, matches
from .schemas import PatientIn, PatientUpdate, TrialIn

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def _research_id() -> str:
    return "R-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def _dated(new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measured facts carry the date they were recorded (screening reads them only inside their
    freshness windows): one entered or changed without a date is dated today; an unchanged one
    keeps its date."""
    old = old or {}
    given = new.get("fact_dates") or {}
    if not isinstance(given, dict):
        raise InvalidInput("facts.fact_dates", given, "an object of fact name -> date")
    dates = dict(given)
    old_dates = old.get("fact_dates") or {}
    if not isinstance(old_dates, dict):
        old_dates = {}
    today = date.today().isoformat()
    for k in MEASURED_FACTS:
        if new.get(k) is None:
            dates.pop(k, None)
            continue
        if k in dates:
            continue
        if old.get(k) == new.get(k) and k in old_dates:
            dates[k] = old_dates[k]
        else:
            dates[k] = today
    return (
        {**new, "fact_dates": dates}
        if dates
        else {k: v for k, v in new.items() if k != "fact_dates"}
    )


def _clean_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """Validate screening facts with the clinical core; age comes from the birth date."""
    if "age_years" in facts:
        raise InvalidInput(
            "facts.age_years",
            facts["age_years"],
            "omitted: age is computed from identity.birth_date",
        )
    try:
        parsed = PatientFacts.parse(facts)
    except ClinicalInputError as exc:
        raise InvalidInput(f"facts.{exc.field}", exc.value, exc.allowed) from None
    return parsed.model_dump(
        mode="json", exclude={"age_years"}, exclude_none=True, exclude_defaults=True
    )


def _check_birth_date(d: date | None) -> None:
    if d is not None and d > date.today():
        raise InvalidInput("identity.birth_date", d.isoformat(), "a date not in the future")


def load(db: Session, patient_id: int) -> Patient:
    p = db.scalar(
        select(Patient)
        .options(joinedload(Patient.identity), joinedload(Patient.site))
        .where(Patient.id == patient_id)
    )
    if p is None:
        raise NotFound(f"patient {patient_id} not found")
    return p


_PAT, _SITE = table(Patient), table(Site)
# the patient's de-identified columns and site code (other statements add to it: the summary)
BRIEF = (
    select(
        _PAT.c.id,
        _PAT.c.site_id,
        _PAT.c.research_id,
        _PAT.c.sex,
        _PAT.c.birth_year,
        _PAT.c.date_shift_days,
        _PAT.c.facts,
        _PAT.c.version,
        _SITE.c.code.label("site_code"),
    )
    .join(_SITE, _SITE.c.id == _PAT.c.site_id)
    .where(_PAT.c.id == bindparam("patient_id"))
)


def brief(db: Executor, patient_id: int, statement: Any = BRIEF, **params: Any) -> Any:
    """The patient's de-identified columns and site code as one Core row (no identity);
    ``statement``: :data:`BRIEF` with more columns (the summary adds the latest course), and
    ``params`` its other parameters.

    Raises:
        NotFound: no such patient."""
    row = db.execute(statement, {"patient_id": patient_id, **params}).one_or_none()
    if row is None:
        raise NotFound(f"patient {patient_id} not found")
    return row


def _mrn_free(db: Session, mrn: str, site_id: int) -> None:
    """Refuse a record number already registered at the site (the unique index on
    (site, record number) holds it against a concurrent registration too)."""
    same = db.scalar(
        select(Patient.id)
        .join(PatientIdentity)
        .where(PatientIdentity.mrn == mrn, Patient.site_id == site_id)
    )
    if same is not None:
        raise Conflict(
            f"record number {mrn} is already registered at this site "
            f"(patient {same}): open that record instead",
            existing_patient=same,
        )


def register(db: Session, actor: Actor, data: PatientIn) -> dict[str, Any]:
    if actor.role == "researcher":
        raise Forbidden(
            "role 'researcher' is read-only; allowed: admin, clinician", role=actor.role
        )
    if actor.role == "clinician":
        site = db.get(Site, actor.site_id)
        if data.site is not None and site is not None and data.site != site.code:
            raise Forbidden("clinicians register patients at their own site", role=actor.role)
    else:
        if not data.site:
            raise InvalidInput("site", data.site, "a site code (admins must name the site)")
        site = db.scalar(select(Site).where(Site.code == data.site))
        if site is None:
            raise InvalidInput("site", data.site, "an existing site code")
    assert site is not None
    _check_birth_date(data.identity.birth_date)
    _mrn_free(db, data.identity.mrn, site.id)
    facts = _clean_facts(_dated(data.facts))
    p = Patient(
        research_id=_research_id(),
        site_id=site.id,
        sex=data.sex,
        birth_year=data.identity.birth_date.year if data.identity.birth_date else None,
        facts=facts,
        version=1,
        created_by=actor.user_id,
    )
    p.identity = PatientIdentity(**data.identity.model_dump(), site_id=site.id)
    db.add(p)
    db.flush()
    view = views.patient(p, identified=True)
    audit.record(db, actor, "create", "patient", p.id, patient_id=p.id, after=view)
    return view


def get(db: Session, actor: Actor, patient_id: int) -> dict[str, Any]:
    """The identified patient record (an audited read)."""
    p = load(db, patient_id)
    can_read_identified(actor, p)
    audit.record(db, actor, "read", "patient", p.id, patient_id=p.id)
    view = views.patient(p, identified=True)
    view["history"] = [views.trial(t) for t in p.history]
    return view


def patient_id_of(db: Executor, research_id: str) -> int | None:
    """The internal id of the patient with this research id (None if none)."""
    return db.scalar(select(Patient.id).where(Patient.research_id == research_id))


def list_patients(
    db: Session,
    actor: Actor,
    *,
    q: str | None = None,
    site: str | None = None,
    limit: int = 50,
    offset: int = 0,
    order: str = "id",
) -> dict[str, Any]:
    """Patients the caller may see: identified for clinicians (own site) and admins,
    de-identified for researchers (search by research id only). ``order``: "id" (the order
    they were registered) or "name" (family then given name; research id for researchers)."""
    query = select(Patient).options(selectinload(Patient.identity), selectinload(Patient.site))
    if actor.role == "clinician":
        query = query.where(Patient.site_id == actor.site_id)
    if site:
        query = query.join(Site, Patient.site_id == Site.id).where(Site.code == site)
    if q:
        # the words typed, not LIKE's wildcards: "%" or "_" match themselves
        text = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{text}%"
        if actor.identified_access:
            query = query.join(PatientIdentity).where(
                or_(
                    PatientIdentity.family_name.ilike(like, escape="\\"),
                    PatientIdentity.given_name.ilike(like, escape="\\"),
                    PatientIdentity.mrn.ilike(like, escape="\\"),
                    Patient.research_id.ilike(like, escape="\\"),
                )
            )
        else:
            query = query.where(Patient.research_id.ilike(like, escape="\\"))
    identified = actor.identified_access
    if order not in ("id", "name"):
        raise InvalidInput("order", order, "id or name")
    if order == "name" and identified:
        if not q:
            query = query.join(PatientIdentity)
        ordering: tuple[Any, ...] = (
            func.lower(PatientIdentity.family_name),
            func.lower(PatientIdentity.given_name),
            Patient.id,
        )
    elif order == "name":
        ordering = (Patient.research_id,)
    else:
        ordering = (Patient.id,)
    result = page(
        db,
        query.order_by(*ordering),
        limit,
        offset,
        lambda p: (
            views.patient(p, identified=True)
            if identified
            else deid.redact(views.patient(p, identified=False), p.date_shift_days)
        ),
    )
    if identified and result["items"]:
        audit.record(
            db,
            actor,
            "read",
            "patient-list",
            None,
            detail="ids " + ",".join(str(i["id"]) for i in result["items"]),
        )
    return result


def update(
    db: Session, actor: Actor, patient_id: int, data: PatientUpdate, if_match: int | IfMatch
) -> dict[str, Any]:
    p = load(db, patient_id)
    can_write(actor, p.site_id)
    if not matches(p.version, if_match):
        raise PreconditionFailed(
            f"patient {patient_id} is at version {p.version}, not {if_match}: reload and retry",
            current_version=p.version,
        )
    before = views.patient(p, identified=True)
    if data.identity is not None:
        _check_birth_date(data.identity.birth_date)
        if data.identity.mrn != p.identity.mrn:
            _mrn_free(db, data.identity.mrn, p.site_id)
        for k, v in data.identity.model_dump().items():
            setattr(p.identity, k, v)
        p.birth_year = data.identity.birth_date.year if data.identity.birth_date else None
    if data.sex is not None:
        p.sex = data.sex
    if data.facts is not None:
        p.facts = _clean_facts(_dated(data.facts, p.facts))
    p.updated_at = utcnow()
    db.flush()
    after = views.patient(p, identified=True)
    audit.record(
        db,
        actor,
        "update",
        "patient",
        p.id,
        patient_id=p.id,
        before=before,
        after=after,
        reason=(data.reason or "").strip() or None,
    )
    return after


def entry_line(e: dict[str, Any] | str) -> str:
    """An entry as one editable line: its text, else its code (``system|code``), with runs of
    white space (a line break in a coded entry's text) as one space, so the line a form shows is
    the line it sends back."""
    text = e if isinstance(e, str) else e.get("text") or f"{e.get('system')}|{e.get('code')}"
    return " ".join(str(text).split())


def edit_facts(
    db: Session,
    actor: Actor,
    patient_id: int,
    scalars: dict[str, Any],
    lists: dict[str, list[str] | None],
    if_match: int | IfMatch,
    reason: str | None = None,
) -> dict[str, Any]:
    """Change facts from a form without losing what the form does not show (``reason``: why,
    kept in the audit trail): a line kept keeps
    its stored entry (codes, status, dates, source), a new line is a new text entry, a removed
    line is removed; measured facts keep their date unless changed; allergies ``None`` leaves
    them unknown, ``[]`` records none known."""
    p = load(db, patient_id)
    stored = dict(p.facts or {})
    facts = {k: v for k, v in stored.items() if k not in (*MEASURED_FACTS, "b12_status")}
    facts.update({k: v for k, v in scalars.items() if v is not None})
    for key, lines in lists.items():
        if lines is None:
            facts.pop(key, None)
            continue
        old: dict[str, list[Any]] = {}
        for e in stored.get(key) or []:  # entries with the same line are all kept, in order
            old.setdefault(entry_line(e), []).append(e)
        kept: list[Any] = []
        for line in dict.fromkeys(" ".join(x.split()) for x in lines):
            kept.extend(old.get(line) or [line])
        facts[key] = kept
    return update(db, actor, patient_id, PatientUpdate(facts=facts, reason=reason), if_match)


def add_trial(db: Session, actor: Actor, patient_id: int, data: TrialIn) -> dict[str, Any]:
    p = load(db, patient_id)
    can_write(actor, p.site_id)
    try:  # the staging rules validate ranges (weeks, improvement) and name the field
        trd_status([Trial.model_validate(data.model_dump())])
    except ClinicalInputError as exc:
        raise InvalidInput(exc.field.replace("history.0.", ""), exc.value, exc.allowed) from None
    t = AntidepressantTrial(patient_id=p.id, created_by=actor.user_id, **data.model_dump())
    db.add(t)
    db.flush()
    view = views.trial(t)
    audit.record(db, actor, "create", "antidepressant-trial", t.id, patient_id=p.id, after=view)
    return view


def delete_trial(
    db: Session, actor: Actor, patient_id: int, trial_id: int, reason: str | None = None
) -> None:
    """Remove a trial recorded in error (the audit trail keeps it, with the reason given)."""
    p = load(db, patient_id)
    can_write(actor, p.site_id)
    t = db.get(AntidepressantTrial, trial_id)
    if t is None or t.patient_id != p.id:
        raise NotFound(f"antidepressant trial {trial_id} not found for patient {patient_id}")
    before = views.trial(t)
    db.delete(t)
    audit.record(
        db,
        actor,
        "delete",
        "antidepressant-trial",
        trial_id,
        patient_id=p.id,
        before=before,
        reason=(reason or "").strip() or None,
    )


def history(db: Session, actor: Actor, patient_id: int) -> list[dict[str, Any]]:
    p = load(db, patient_id)
    can_read(actor, p)
    return deid.view(actor, [views.trial(t) for t in p.history], p.date_shift_days)


def age_on(p: Patient, day: date) -> int | None:
    b = p.identity.birth_date if p.identity else None
    if b is None:
        return None
    return day.year - b.year - ((day.month, day.day) < (b.month, b.day))
