"""Recording rating-scale administrations: scored by raad.scales, suicide items raise alerts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from raad.clinical.safety import score_alerts
from raad.scales import ScaleInputError, get
from raad.scales.scoring import rating_value
from raad.store.core import Executor, InsertBatch, Inserter, connection_of, core_only, table
from raad.store.models import Administration, Assessment, Course, utcnow

from . import audit, deid, views
from .alerts import store_alert
from .authz import can_read, can_write
from .context import Actor
from .errors import Conflict, InvalidInput, NotFound
from .patients import BRIEF, brief, load
from .schemas import AssessmentIn

_ADM, _COURSE = table(Administration), table(Course)
_SESSION_PATIENT = (
    select(_ADM.c.patient_id, _COURSE.c.id.label("course_id"), _COURSE.c.locked_at)
    .join(_COURSE, _COURSE.c.id == _ADM.c.course_id)
    .where(_ADM.c.id == bindparam("session_id"))
)
_insert_assessment = Inserter(Assessment)
# PostgreSQL: the patient with the new rating's id reserved from its sequence, so the rating,
# its alerts and its audit row go in one statement (store.core.InsertBatch)
_ASSESS = table(Assessment)
_BRIEF_AND_ID = BRIEF.add_columns(
    func.nextval(func.pg_get_serial_sequence(_ASSESS.name, _ASSESS.c.id.name)).label("next_id")
)


def _brief(db: Executor, patient_id: int) -> Any:
    """``patients.brief``, with ``next_id`` (the new rating's id) on PostgreSQL."""
    conn = connection_of(db)
    if conn.dialect.name == "postgresql":
        return brief(conn, patient_id, _BRIEF_AND_ID)
    return brief(conn, patient_id)


@core_only
def record(db: Executor, actor: Actor, patient_id: int, data: AssessmentIn) -> dict[str, Any]:
    """Score and store a rating with its alerts (Core statements: a busy write)."""
    p = _brief(db, patient_id)
    can_write(actor, p.site_id)
    if data.administered_at > utcnow():
        raise InvalidInput(
            "administered_at", data.administered_at.isoformat(), "a time not in the future"
        )
    if p.birth_year is not None and data.administered_at.year < p.birth_year:
        raise InvalidInput(
            "administered_at",
            data.administered_at.isoformat(),
            f"a time after the patient's birth (born {p.birth_year})",
        )
    if data.administration_id is not None:
        owner = db.execute(_SESSION_PATIENT, {"session_id": data.administration_id}).first()
        if owner is None:
            raise NotFound(f"session {data.administration_id} not found")
        if owner.patient_id != p.id:
            raise InvalidInput(
                "administration_id", data.administration_id, "a session of this patient"
            )
        if owner.locked_at is not None:
            raise Conflict(
                f"session {data.administration_id} belongs to course {owner.course_id}, which "
                "is signed and locked: record the rating without the session, or have an admin "
                "unlock the course"
            )
    return store(db, p, data, created_by=actor.user_id, actor=actor)


def store(
    db: Executor,
    p: Any,
    data: AssessmentIn,
    *,
    created_by: int,
    actor: Actor | None,
    source: str = "clinician",
    link_id: int | None = None,
) -> dict[str, Any]:
    """Score and store a rating for patient row ``p`` (checked by the caller) with its alerts
    and audit entry. ``source``: "clinician", or "patient" for a self-report link (``actor``
    None: the audit names the link)."""
    try:
        instr = get(data.instrument)
        score = instr.score(data.responses, allow_incomplete=data.allow_incomplete)
    except ScaleInputError as exc:
        field = exc.field if exc.field == "instrument" else f"responses ({exc.field})"
        raise InvalidInput(field, exc.value, exc.allowed) from None
    batch = InsertBatch(db)
    reserved = getattr(p, "next_id", None)
    row = _insert_assessment(
        batch,
        **({"id": reserved} if reserved is not None else {}),
        patient_id=p.id,
        administration_id=data.administration_id,
        instrument=instr.name,
        responses={
            k: v
            for k, raw in data.responses.items()
            if (v := rating_value(k, raw, "an integer")) is not None
        },
        total=score.total,
        severity=score.severity,
        suicide_flag=score.suicide_flag,
        administered_at=data.administered_at,
        created_by=created_by,
        source=source,
        link_id=link_id,
    )
    if row.id is None:  # no id reserved (no next_id, or no sequence found): the alerts and
        # the audit row need it now
        batch.flush()
    stored = [
        store_alert(
            batch,
            x,
            patient_id=p.id,
            assessment_id=row.id,
            administration_id=data.administration_id,
        )
        for x in score_alerts([score])
    ]
    audit.record(
        batch,
        actor,
        "create",
        "assessment",
        row.id,
        patient_id=p.id,
        after=views.assessment(row),
        detail=f"self-report link {link_id}" if link_id is not None else None,
    )
    batch.flush()  # the alerts' ids are known from here
    return {**views.assessment(row), "risk": score.risk, "alerts": [views.alert(a) for a in stored]}


def list_for(
    db: Session, actor: Actor, patient_id: int, instrument: str | None = None
) -> list[dict[str, Any]]:
    p = load(db, patient_id)
    can_read(actor, p)
    q = select(Assessment).where(Assessment.patient_id == p.id)
    if instrument:
        try:
            q = q.where(Assessment.instrument == get(instrument).name)
        except ScaleInputError as exc:
            raise InvalidInput("instrument", exc.value, exc.allowed) from None
    rows = [
        views.assessment(a)
        for a in db.scalars(q.order_by(Assessment.administered_at, Assessment.id))
    ]
    return deid.view(actor, rows, p.date_shift_days)
