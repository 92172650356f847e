"""Recording treatment sessions: the safety monitor runs on every write (against the course's
plan and the label), its alerts are stored, and discharge is refused before the earliest time
the label and the record allow, and while a discharge-blocking alert is unacknowledged. A
session of an agent the patient's screening (computed now) marks contraindicated needs an
override reason, stored on the session and audited; a start in the future is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from raad.clinical.errors import ClinicalInputError
from raad.clinical.safety import Alert as SafetyAlert
from raad.clinical.safety import (
    BloodPressure,
    DischargeTime,
    PlannedDose,
    SafetyReport,
    SessionRecord,
    VitalSigns,
    check_session,
    earliest_discharge,
)
from raad.knowledge.rems import load_rems
from raad.knowledge.treatment import agents, monitoring
from raad.scales import get as get_instrument
from raad.store.core import Executor, InsertBatch, Inserter, connection_of, core_only, table
from raad.store.models import (
    Administration,
    Alert,
    Course,
    Patient,
    PatientIdentity,
    Site,
    utcnow,
)

from . import audit, deid, signatures, views
from .alerts import alert_columns, store_alert, usernames
from .authz import can_read, can_write
from .context import Actor
from .errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from .paging import page
from .patients import load
from .preconditions import IfMatch, matches
from .schemas import SessionIn, SessionUpdate, SignatureIn
from .screenings import check_override

_ADM, _COURSE, _PAT = table(Administration), table(Course), table(Patient)
_IDENT = table(PatientIdentity)
_SITE = table(Site)


def _bp(field: str, bp: Any) -> BloodPressure | None:
    if bp is None:
        return None
    try:
        return BloodPressure(bp.systolic, bp.diastolic)
    except ClinicalInputError as exc:
        raise InvalidInput(
            exc.field.replace("blood_pressure", field), exc.value, exc.allowed
        ) from None


def _vital(v: dict[str, Any], start: datetime, i: int) -> VitalSigns:
    """A stored vitals row as the safety monitor reads it (minutes after the start)."""
    at = datetime.fromisoformat(v["time"])
    sys_, dia = v.get("systolic"), v.get("diastolic")
    if (sys_ is None) != (dia is None):
        raise ClinicalInputError(
            f"vitals[{i}]", f"{sys_}/{dia}", "both systolic and diastolic, or neither"
        )
    try:
        return VitalSigns(
            minutes=(at - start).total_seconds() / 60,
            bp=BloodPressure(sys_, dia) if sys_ is not None else None,
            heart_rate=v.get("heart_rate"),
            spo2=v.get("spo2"),
            moaas=v.get("moaas"),
        )
    except ClinicalInputError as exc:
        field = exc.field.replace("vitals.", f"vitals[{i}].").replace(
            "blood_pressure", f"vitals[{i}].blood_pressure"
        )
        if field == "vitals":
            field = f"vitals[{i}]"
        raise ClinicalInputError(field, exc.value, exc.allowed) from None


def _record(a: Any) -> SessionRecord:
    return SessionRecord(
        agent=a.agent,
        start=a.start,
        duration_min=a.duration_min,
        n2o_fraction=a.n2o_fraction,
        dose_mg=a.dose_mg,
        dose_mg_per_kg=a.dose_mg_per_kg,
        bp_pre=BloodPressure(a.bp_pre_systolic, a.bp_pre_diastolic)
        if a.bp_pre_systolic is not None
        else None,
        bp_post=BloodPressure(a.bp_post_systolic, a.bp_post_diastolic)
        if a.bp_post_systolic is not None
        else None,
        bp_post_min=a.bp_post_min,
        observation_min=a.observation_min,
        adverse_events=tuple(e["event"] for e in a.adverse_events),
        unresolved=tuple(a.unresolved),
        cadss_total=a.cadss_total,
        vitals=tuple(_vital(v, a.start, i) for i, v in enumerate(a.vitals or ())),
    )


def _record_fields(data: Any, agent: str, plan: dict[str, Any] | None) -> dict[str, Any]:
    """The REMS-grade fields given in ``data`` (a SessionIn or SessionUpdate), checked and in
    their stored form; only the fields that were given."""
    given = data.model_dump(exclude_unset=True) if hasattr(data, "model_dump") else {}
    out: dict[str, Any] = {}
    if "vitals" in given:
        rows = []
        for v in data.vitals or []:
            row = v.model_dump(mode="json")
            row["time"] = v.time.astimezone(UTC).isoformat()
            rows.append(row)
        out["vitals"] = sorted(rows, key=lambda r: r["time"])
    if "lot_numbers" in given:
        lots = [str(x).strip() for x in data.lot_numbers or []]
        for i, lot in enumerate(lots):
            if not 1 <= len(lot) <= 40 or not lot.isprintable():
                raise InvalidInput(f"lot_numbers[{i}]", lot, "a lot number of 1-40 characters")
        out["lot_numbers"] = lots
    if "concomitant" in given:
        known = load_rems().medicine_keys()
        for key in data.concomitant or {}:
            if key not in known:
                raise InvalidInput("concomitant", key, f"keys {', '.join(known)}")
        out["concomitant"] = dict(data.concomitant) if data.concomitant is not None else None
    if "checklist" in given:
        checks = set((plan or {}).get("check_sources") or {})
        for key in data.checklist or {}:
            if key not in checks:
                raise InvalidInput(
                    "checklist", key, "the pre-session checks of the course's plan, as written"
                )
        out["checklist"] = dict(data.checklist) if data.checklist is not None else None
    if "observed_by" in given:
        out["observed_by"] = (data.observed_by or "").strip() or None
    if "ready_to_leave_at" in given:
        out["ready_to_leave_at"] = data.ready_to_leave_at
    return out


def _with_checklist(report: SafetyReport, a: Any, plan: dict[str, Any] | None) -> SafetyReport:
    """The safety monitor's report plus a warning naming the pre-session checks recorded as
    not done, with each check's own sources (the course's plan, from knowledge/monitoring.yaml).
    Checks not answered are not called "not done"."""
    checklist = getattr(a, "checklist", None) or {}
    not_done = [text for text, done in checklist.items() if done is False]
    if not not_done:
        return report
    sources = (plan or {}).get("check_sources") or {}
    cited = tuple(dict.fromkeys(src for t in not_done for src in sources.get(t, [])))
    alert = SafetyAlert(
        "check-not-done",
        "warning",
        "Pre-session check recorded as not done: " + "; ".join(not_done),
        {"checks": not_done},
        cited,
        blocks_discharge=False,
    )
    return SafetyReport((*report.alerts, alert))


def _check_times(a: Any) -> None:
    """Ready to leave: after the start, not in the future; readings not in the future."""
    skew = monitoring().input_checks.clock_skew_min
    latest = utcnow() + timedelta(minutes=skew)
    for i, v in enumerate(getattr(a, "vitals", None) or ()):
        if datetime.fromisoformat(v["time"]) > latest:
            raise InvalidInput(
                f"vitals[{i}].time", v["time"], "a time not in the future (a reading taken)"
            )
    ready = getattr(a, "ready_to_leave_at", None)
    if ready is None:
        return
    if ready < a.start or ready > utcnow() + timedelta(minutes=skew):
        raise InvalidInput(
            "ready_to_leave_at", ready.isoformat(), "a time after the start, not in the future"
        )


def _validate(a: Any) -> SessionRecord:
    try:
        rec = _record(a)
    except ClinicalInputError as exc:
        raise InvalidInput(exc.field, exc.value, exc.allowed) from None
    _check_times(a)
    if a.cadss_total is not None:
        lo, hi = get_instrument("CADSS").total_range
        if not lo <= a.cadss_total <= hi:
            raise InvalidInput("cadss_total", a.cadss_total, f"{lo}-{hi}")
    return rec


def _check_start(start: datetime, birth_year: int | None = None) -> None:
    """A session cannot start in the future (beyond raad's clock-skew allowance), nor before
    the patient's year of birth."""
    if birth_year is not None and start.year < birth_year:
        raise InvalidInput(
            "start", start.isoformat(), f"a time after the patient's birth (born {birth_year})"
        )
    skew = monitoring().input_checks.clock_skew_min
    latest = utcnow() + timedelta(minutes=skew)
    if start > latest:
        raise InvalidInput(
            "start",
            start.isoformat(),
            f"a time not in the future: at the latest now + {skew:g} min (raad's clock-skew "
            f"allowance), {latest.isoformat(timespec='minutes')}",
        )


_HISTORY = select(
    _ADM.c.agent, _ADM.c.course_id, _ADM.c.start, _ADM.c.duration_min, _ADM.c.dose_mg
).where(_ADM.c.patient_id == bindparam("patient_id"), _ADM.c.id != bindparam("session_id"))


def _history(
    db: Executor, a: Any, plan: dict[str, Any] | None
) -> tuple[tuple[SessionRecord, ...], PlannedDose | None]:
    """The patient's other sessions, with what the safety monitor's history checks read (agent,
    start, duration), and what the course's plan gives for this session (its number is its
    place among the course's sessions by start time). Writers call it under the patient's
    sessions lock (``SESSIONS_LOCK``)."""
    rows = db.execute(_HISTORY, {"patient_id": a.patient_id, "session_id": a.id or 0}).all()
    history = tuple(
        SessionRecord(agent=r.agent, start=r.start, duration_min=r.duration_min, dose_mg=r.dose_mg)
        for r in rows
    )
    if not plan:
        return history, None
    number = 1 + sum(1 for r in rows if r.course_id == a.course_id and r.start < a.start)
    return history, PlannedDose.from_plan(plan, number)


def _plan_of(db: Session, a: Administration) -> dict[str, Any] | None:
    course = db.get(Course, a.course_id)
    return course.plan if course is not None else None


def _sync_alerts(db: Session, a: Administration) -> list[Alert]:
    """Run the safety monitor; store new alerts, clear open ones it no longer raises."""
    plan = _plan_of(db, a)
    _lock_sessions(db, a.patient_id)
    report = _with_checklist(check_session(_validate(a), *_history(db, a, plan)), a, plan)
    existing = db.scalars(select(Alert).where(Alert.administration_id == a.id)).all()
    # an alert is one finding: its code and level (two rules can share a code at two levels,
    # e.g. the warning and the critical blood pressure after dosing; keyed by code alone they
    # overwrote each other and flipped on unrelated edits)
    live = {(x.code, x.level): x for x in existing if x.cleared_at is None}
    raised = {(x.code, x.level) for x in report.alerts}
    now = utcnow()
    for key, row in live.items():
        if key not in raised:
            row.cleared_at = now
    for x in report.alerts:
        row = live.get((x.code, x.level))
        if row is not None and row.message == x.message:
            continue
        if row is not None:  # same alert, new facts: replace the open one
            row.cleared_at = now
        db.add(Alert(patient_id=a.patient_id, administration_id=a.id, **alert_columns(x)))
    db.flush()
    return list(
        db.scalars(
            select(Alert)
            .where(Alert.administration_id == a.id, Alert.cleared_at.is_(None))
            .order_by(Alert.id)
        )
    )


def _earliest(a: Any) -> DischargeTime:
    """The earliest discharge of a stored session (from its agent, start and recorded times; a
    record stored before one of today's input checks falls back to the agent's minimum)."""
    try:
        rec = SessionRecord(
            agent=a.agent,
            start=a.start,
            duration_min=a.duration_min,
            observation_min=a.observation_min,
        )
    except ClinicalInputError:
        rec = SessionRecord(agent=a.agent, start=a.start)
    return earliest_discharge(rec)


_SITE_ZONE = (
    select(_SITE.c.time_zone)
    .join(_PAT, _PAT.c.site_id == _SITE.c.id)
    .where(_PAT.c.id == bindparam("patient_id"))
)


def _site_zone(db: Executor, patient_id: int) -> ZoneInfo:
    """The time zone of the patient's site (UTC when none is set or it is unknown here)."""
    try:
        return ZoneInfo(db.execute(_SITE_ZONE, {"patient_id": patient_id}).scalar() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _rems(db: Executor, a: Any) -> dict[str, Any] | None:
    """Where the REMS monitoring form of an esketamine session stands: due by (the session's
    calendar day at the patient's site + the form's deadline, knowledge/rems.yaml), submitted
    when, days left counted in the site's days (negative: overdue)."""
    if a.agent != "esketamine":
        return None
    zone = _site_zone(db, a.patient_id)
    due = a.start.astimezone(zone).date() + timedelta(days=load_rems().submit_within_days.value)
    submitted = getattr(a, "rems_submitted_at", None)
    return {
        "due_by": due.isoformat(),
        "submitted_at": submitted.isoformat() if submitted else None,
        "days_left": None if submitted else (due - utcnow().astimezone(zone).date()).days,
        "time_zone": zone.key,
    }


def rems_submitted(db: Session, actor: Actor, session_id: int) -> dict[str, Any]:
    """Record that the REMS monitoring form of an esketamine session was submitted (now, by
    ``actor``); allowed after discharge (it is not part of the clinical record), audited.

    Raises:
        Conflict: not an esketamine session, already marked, or its course is locked.
    """
    a = load_session(db, session_id)
    p = load(db, a.patient_id)
    can_write(actor, p.site_id)
    if a.agent != "esketamine":
        raise Conflict(f"session {session_id} is not an esketamine session: no REMS form")
    if a.rems_submitted_at is not None:
        raise Conflict(f"the REMS form of session {session_id} was already marked submitted")
    if a.discharged_at is None:
        raise Conflict(
            f"session {session_id} is not discharged yet: the REMS form is completed after the "
            "treatment session"
        )
    course = db.get(Course, a.course_id)
    if course is not None and course.locked_at is not None:
        raise Conflict(f"course {course.id} is signed and locked")
    a.rems_submitted_at = utcnow()
    a.rems_submitted_by = actor.user_id
    db.flush()
    audit.record(
        db,
        actor,
        "update",
        "session",
        a.id,
        patient_id=p.id,
        before={"rems_submitted_at": None},
        after={"rems_submitted_at": a.rems_submitted_at.isoformat()},
    )
    return _view(db, a, _open_alerts(db, a))


def _view(db: Executor, a: Any, alerts: list[Any], *, new: bool = False) -> dict[str, Any]:
    """The session as the API shows it; ``new``: created in this transaction, so nothing has
    signed it yet (no query for its signatures)."""
    names = usernames(db, (x.acknowledged_by for x in alerts))
    signed = signatures.of(db, "alert", (x.id for x in alerts if x.acknowledged_at is not None))
    return {
        **views.administration(a),
        "signatures": [] if new else signatures.of(db, "session", [a.id]).get(a.id, []),
        "alerts": [{**views.alert(x, names), "signatures": signed.get(x.id, [])} for x in alerts],
        "rems": _rems(db, a),
        "discharge_blocked": any(x.blocks_discharge and x.acknowledged_at is None for x in alerts),
        "discharge_not_before": _earliest(a).to_dict(),
    }


_COURSE_SITE = (
    select(
        _COURSE.c.id,
        _COURSE.c.patient_id,
        _COURSE.c.agent,
        _COURSE.c.status,
        _COURSE.c.plan,
        _PAT.c.site_id,
        _PAT.c.birth_year,
        # what the screening reads (screenings.screen_now), in the same round trip
        _PAT.c.facts,
        _PAT.c.sex,
        _IDENT.c.birth_date,
    )
    .join(_PAT, _PAT.c.id == _COURSE.c.patient_id)
    .outerjoin(_IDENT, _IDENT.c.patient_id == _PAT.c.id)
    .where(_COURSE.c.id == bindparam("course_id"))
)
_insert_session = Inserter(Administration)

# Sessions of one patient are recorded one at a time on PostgreSQL: the history rules (a second
# dose the same day, nitrous oxide exposure) read the patient's other sessions, and a session
# committed by another request between that read and this commit would not be among them.
# The lock (a transaction-level advisory lock on the patient, this namespace as its first key)
# is taken with the course row, before the history is read in a statement of its own, which
# then sees every session committed before it. SQLite's writers are serial already.
SESSIONS_LOCK = 0x52535353  # "RSSS": the first key of pg_advisory_xact_lock(int, int)
# The course row comes with that lock and the new session's id, reserved from its sequence so
# the session, its alerts and its audit row go in one statement (store.core.InsertBatch). The
# row itself is share-locked (FOR SHARE OF courses): a change of the course's status (stopped,
# completed) waits for the session to commit, or the session, having waited for the change,
# reads the course as changed (PostgreSQL re-reads a row updated while it waited for its lock)
# and is refused; no session lands on a course that was closed while it was being recorded.
_COURSE_SITE_LOCKED = _COURSE_SITE.add_columns(
    func.pg_advisory_xact_lock(SESSIONS_LOCK, _COURSE.c.patient_id).label("locked"),
    func.nextval(func.pg_get_serial_sequence(_ADM.name, _ADM.c.id.name)).label("next_id"),
).with_for_update(read=True, of=_COURSE)
_LOCK_PATIENT = select(func.pg_advisory_xact_lock(SESSIONS_LOCK, bindparam("patient_id")))


def _lock_sessions(db: Executor, patient_id: int) -> None:
    """Take the patient's sessions lock (PostgreSQL; see ``SESSIONS_LOCK``) until commit."""
    conn = connection_of(db)
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_PATIENT, {"patient_id": patient_id})


def _course_for_writing(db: Executor, course_id: int) -> Any:
    """The course row of ``_COURSE_SITE`` (None if there is none); on PostgreSQL with the
    patient's sessions lock taken and ``next_id``, the new session's id."""
    conn = connection_of(db)
    statement = _COURSE_SITE_LOCKED if conn.dialect.name == "postgresql" else _COURSE_SITE
    return conn.execute(statement, {"course_id": course_id}).one_or_none()


@core_only
def record(db: Executor, actor: Actor, data: SessionIn) -> dict[str, Any]:
    """Record a session and the safety monitor's alerts on it (Core statements: this is the
    busiest write)."""
    course = _course_for_writing(db, data.course_id)
    if course is None:
        raise NotFound(f"course {data.course_id} not found")
    can_write(actor, course.site_id)
    if course.status != "active":
        raise Conflict(
            f"course {course.id} is {course.status}; sessions are recorded on active courses"
        )
    values = {
        "course_id": course.id,
        "patient_id": course.patient_id,
        "agent": course.agent,
        "route": data.route or agents()[course.agent].route,
        "n2o_fraction": data.n2o_fraction,
        "dose_mg": data.dose_mg,
        "dose_mg_per_kg": data.dose_mg_per_kg,
        "start": data.start,
        "duration_min": data.duration_min,
        "bp_pre_systolic": data.bp_pre.systolic if data.bp_pre else None,
        "bp_pre_diastolic": data.bp_pre.diastolic if data.bp_pre else None,
        "bp_post_systolic": data.bp_post.systolic if data.bp_post else None,
        "bp_post_diastolic": data.bp_post.diastolic if data.bp_post else None,
        "bp_post_min": data.bp_post_min,
        "observation_min": data.observation_min,
        "adverse_events": [e.model_dump() for e in data.adverse_events],
        "unresolved": list(data.unresolved),
        "cadss_total": data.cadss_total,
        "notes": data.notes,
        "override_reason": None,
        "override_detail": None,
        "version": 1,
        "created_by": actor.user_id,
        "vitals": None,
        "lot_numbers": None,
        "concomitant": None,
        "checklist": None,
        "observed_by": None,
        "ready_to_leave_at": None,
        **_record_fields(data, course.agent, course.plan),
    }
    _bp("bp_pre", data.bp_pre)
    _bp("bp_post", data.bp_post)
    rec = _validate(SimpleNamespace(**values))
    _check_start(data.start, course.birth_year)
    override = check_override(
        db, course.patient_id, course.agent, data.override_reason, facts=course
    )
    if override:
        values["override_reason"] = (data.override_reason or "").strip()
        values["override_detail"] = override
    batch = InsertBatch(db)
    reserved = getattr(course, "next_id", None)
    if reserved is not None:
        values["id"] = reserved
    a = _insert_session(batch, **values)  # SQLite: inserted now, with its id
    if a.id is None:  # no id reserved (no sequence found): the alerts and audit row need it now
        batch.flush()
    # under the patient's lock: every other session committed before now (less this one)
    report = _with_checklist(check_session(rec, *_history(db, a, course.plan)), a, course.plan)
    stored = [
        store_alert(batch, x, patient_id=a.patient_id, administration_id=a.id)
        for x in report.alerts
    ]
    after = views.administration(a)
    audit.record(batch, actor, "create", "session", a.id, patient_id=a.patient_id, after=after)
    batch.flush()  # the alerts' ids are known from here
    view = _view(db, a, stored, new=True)
    if override:  # after the batch, so the override's audit row follows the session's
        audit.record(
            db, actor, "override", "session", a.id, patient_id=a.patient_id, after=after["override"]
        )
    return view


def preview(db: Session, actor: Actor, data: SessionIn) -> dict[str, Any]:
    """The alerts ``data`` would raise and the earliest discharge it would allow, without
    writing anything (the session form shows them as it is filled)."""
    course = db.execute(_COURSE_SITE, {"course_id": data.course_id}).one_or_none()
    if course is None:
        raise NotFound(f"course {data.course_id} not found")
    can_read(actor, load(db, course.patient_id))
    _bp("bp_pre", data.bp_pre)
    _bp("bp_post", data.bp_post)
    a = SimpleNamespace(
        id=None,
        course_id=course.id,
        patient_id=course.patient_id,
        agent=course.agent,
        start=data.start,
        duration_min=data.duration_min,
        n2o_fraction=data.n2o_fraction,
        dose_mg=data.dose_mg,
        dose_mg_per_kg=data.dose_mg_per_kg,
        bp_pre_systolic=data.bp_pre.systolic if data.bp_pre else None,
        bp_pre_diastolic=data.bp_pre.diastolic if data.bp_pre else None,
        bp_post_systolic=data.bp_post.systolic if data.bp_post else None,
        bp_post_diastolic=data.bp_post.diastolic if data.bp_post else None,
        bp_post_min=data.bp_post_min,
        observation_min=data.observation_min,
        adverse_events=[e.model_dump() for e in data.adverse_events],
        unresolved=list(data.unresolved),
        cadss_total=data.cadss_total,
        **{"vitals": None, "ready_to_leave_at": None}
        | _record_fields(data, course.agent, course.plan),
    )
    rec = _validate(a)
    _check_start(data.start, course.birth_year)
    report = _with_checklist(check_session(rec, *_history(db, a, course.plan)), a, course.plan)
    return {
        "alerts": [x.to_dict() for x in report.alerts],
        "discharge_not_before": earliest_discharge(rec).to_dict(),
    }


def load_session(db: Session, session_id: int) -> Administration:
    a = db.get(Administration, session_id)
    if a is None:
        raise NotFound(f"session {session_id} not found")
    return a


def _open_alerts(db: Session, a: Administration) -> list[Alert]:
    return list(
        db.scalars(
            select(Alert)
            .where(Alert.administration_id == a.id, Alert.cleared_at.is_(None))
            .order_by(Alert.id)
        )
    )


def whose(db: Session, actor: Actor, session_id: int) -> dict[str, Any]:
    """Whose session this is: id, name and record number for roles that see identifiers (an
    audited read), the research id alone for researchers."""
    a = load_session(db, session_id)
    p = load(db, a.patient_id)
    can_read(actor, p)
    if not actor.identified_access:
        return {"research_id": p.research_id}
    audit.record(db, actor, "read", "patient", p.id, patient_id=p.id, detail="session page")
    i = p.identity
    return {
        "id": p.id,
        "research_id": p.research_id,
        "name": f"{i.family_name}, {i.given_name}",
        "mrn": i.mrn,
    }


def get(db: Session, actor: Actor, session_id: int) -> dict[str, Any]:
    a = load_session(db, session_id)
    p = load(db, a.patient_id)
    can_read(actor, p)
    return deid.view(actor, _view(db, a, _open_alerts(db, a)), p.date_shift_days)


def update(
    db: Session, actor: Actor, session_id: int, data: SessionUpdate, if_match: int | IfMatch
) -> dict[str, Any]:
    a = load_session(db, session_id)
    p = load(db, a.patient_id)
    can_write(actor, p.site_id)
    if not matches(a.version, if_match):
        raise PreconditionFailed(
            f"session {session_id} is at version {a.version}, not {if_match}: reload and retry",
            current_version=a.version,
        )
    if a.discharged_at is not None:
        raise Conflict(f"session {session_id} was discharged; it can no longer be changed")
    before = views.administration(a)
    fields = data.model_dump(exclude_unset=True)
    if "bp_post" in fields:
        _bp("bp_post", data.bp_post)
        a.bp_post_systolic = data.bp_post.systolic if data.bp_post else None
        a.bp_post_diastolic = data.bp_post.diastolic if data.bp_post else None
    for k in ("bp_post_min", "duration_min", "observation_min", "cadss_total", "notes"):
        if k in fields:
            setattr(a, k, fields[k])
    if "adverse_events" in fields:
        a.adverse_events = [e.model_dump() for e in data.adverse_events or []]
    if "unresolved" in fields:
        a.unresolved = list(data.unresolved or [])
    for k, v in _record_fields(data, a.agent, _plan_of(db, a)).items():
        setattr(a, k, v)
    _validate(a)
    after = views.administration(a)
    reason = (data.reason or "").strip() or None
    changed = corrected(before, after)
    if changed and reason is None:
        raise InvalidInput(
            "reason",
            data.reason,
            "a reason for changing or removing recorded values ("
            + ", ".join(changed)
            + "); the values before are kept in the audit trail",
        )
    db.flush()
    alerts = _sync_alerts(db, a)
    audit.record(
        db,
        actor,
        "update",
        "session",
        a.id,
        patient_id=p.id,
        before=before,
        after=after,
        reason=reason,
    )
    return _view(db, a, alerts)


_NOT_CORRECTIONS = frozenset(
    {"id", "course_id", "agent", "version", "rems_submitted_at", "discharged_at", "discharged_by"}
    # values that move as the session goes on: what is still unresolved (an effect resolves)
    # and the latest CADSS rating (re-rated during observation)
    | {"unresolved", "cadss_total"}
)


def _later_post_reading(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """The single "after dosing" reading replaced by one taken later (the 40-minute reading
    after an earlier one): the record moves on, nothing recorded is corrected."""
    was, now = before.get("bp_post_min"), after.get("bp_post_min")
    return isinstance(was, int | float) and isinstance(now, int | float) and now > was


def corrected(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The fields of a session view whose recorded values a change alters or removes (a
    reading, adverse event or lot number taken off a list; a recorded value changed or
    cleared; notes rewritten rather than added to). Adding what was not recorded is not a
    correction, nor is a longer observation time (it grows while the patient is watched), a
    later reading in the single "after dosing" fields, an effect resolving, or a new CADSS
    rating.
    Rule: ``esignature.yaml`` rules.corrections (WHO GCP 1995 10.1(c))."""
    out = []
    for key, old in before.items():
        new = after.get(key)
        if key in _NOT_CORRECTIONS or old in (None, [], {}, "") or new == old:
            continue
        if key == "observation_min" and isinstance(new, int | float) and new > old:
            continue
        if key in ("bp_post", "bp_post_min") and _later_post_reading(before, after):
            continue
        if isinstance(old, list):
            kept = list(new or [])
            if all(item in kept for item in old):
                continue
        elif isinstance(old, dict) and isinstance(new, dict):
            if all(new.get(k) == v for k, v in old.items() if v is not None):
                continue
        elif isinstance(old, str) and isinstance(new, str) and new.startswith(old):
            continue
        out.append(key)
    return out


def discharge(
    db: Session,
    actor: Actor,
    session_id: int,
    if_match: int | IfMatch,
    signature: SignatureIn | None = None,
) -> dict[str, Any]:
    """Discharge a session, signed by ``actor`` (meaning: responsibility; see
    :mod:`raad.services.signatures`).

    Raises:
        PreconditionFailed: stale ``if_match``. Conflict: already discharged, before the
            earliest discharge, or a discharge-blocking alert unacknowledged. InvalidInput: no
            signature. SignatureRefused: wrong credentials (nothing changes).
    """
    a = load_session(db, session_id)
    p = load(db, a.patient_id)
    can_write(actor, p.site_id)
    if not matches(a.version, if_match):
        raise PreconditionFailed(
            f"session {session_id} is at version {a.version}, not {if_match}: reload and retry",
            current_version=a.version,
        )
    if a.discharged_at is not None:
        raise Conflict(f"session {session_id} was already discharged")
    now = utcnow()
    earliest = _earliest(a)
    if now < earliest.at:
        raise Conflict(
            f"session {session_id} cannot be discharged before "
            f"{earliest.at.isoformat(timespec='minutes')} ({earliest.reason}"
            + (f" [{', '.join(earliest.sources)}]" if earliest.sources else "")
            + f"); it is now {now.isoformat(timespec='minutes')}",
            **earliest.to_dict(),
        )
    alerts = _open_alerts(db, a)
    blocking = [x for x in alerts if x.blocks_discharge and x.acknowledged_at is None]
    if blocking:
        raise Conflict(
            "discharge blocked until these alerts are acknowledged: "
            + "; ".join(f"#{x.id} {x.code}" for x in blocking),
            blocking_alerts=[x.id for x in blocking],
        )
    signer = signatures.check_signer(db, actor, signature)
    a.discharged_at = now
    a.discharged_by = actor.user_id
    db.flush()
    signatures.sign(db, actor, signer, "session", a.id, "discharge", patient_id=p.id)
    audit.record(
        db,
        actor,
        "update",
        "session",
        a.id,
        patient_id=p.id,
        before={"discharged_at": None},
        after={"discharged_at": a.discharged_at.isoformat(), "discharged_by": actor.user_id},
    )
    return _view(db, a, alerts)


def list_sessions(
    db: Session,
    actor: Actor,
    *,
    patient_id: int | None = None,
    course_id: int | None = None,
    agent: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    q = select(Administration)
    if patient_id is not None:
        can_read(actor, load(db, patient_id))
        q = q.where(Administration.patient_id == patient_id)
    elif actor.role == "clinician":
        q = q.join(Patient, Patient.id == Administration.patient_id).where(
            Patient.site_id == actor.site_id
        )
    if course_id is not None:
        q = q.where(Administration.course_id == course_id)
    if agent is not None:
        if agent not in agents():
            raise InvalidInput("agent", agent, f"one of {', '.join(agents())}")
        q = q.where(Administration.agent == agent)
    render = views.administration
    if not actor.identified_access:
        shift = deid.shifts(db)

        def render(a: Administration) -> dict[str, Any]:
            return deid.redact(views.administration(a), shift(a.patient_id))

    return page(db, q.order_by(Administration.start, Administration.id), limit, offset, render)
