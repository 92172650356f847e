"""A patient's summary: TRD stage, current course, latest scores with response and remission
against the first score on the same instrument, and open alerts."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Integer,
    bindparam,
    case,
    func,
    or_,
    select,
    type_coerce,
)

from raad.clinical.staging import Trial, trd_status
from raad.scales import compare, get
from raad.scales.course import course as episode_course
from raad.store.core import Executor, NestedRows, connection_of, core_only, table
from raad.store.models import Administration, Alert, AntidepressantTrial, Assessment, Course

from . import deid, views
from .authz import can_read, reads_every_site
from .context import Actor
from .patients import BRIEF, brief

# Core statements built once: the summary is the busiest read
_TRIAL, _COURSE = table(AntidepressantTrial), table(Course)
_ADM, _ASSESS, _ALERT = table(Administration), table(Assessment), table(Alert)
_PID = bindparam("patient_id")
_TRIALS = select(_TRIAL).where(_TRIAL.c.patient_id == _PID).order_by(_TRIAL.c.id)
# the patient (patients.BRIEF) with the last course and its sessions counted, in one
# statement: the course's columns are labelled course_<name> (None when there is no course)
_COURSE_COLUMNS = tuple(column.name for column in _COURSE.c)
_SESSIONS_DONE = (
    select(func.count()).where(_ADM.c.course_id == _COURSE.c.id).scalar_subquery().label("done")
)
_OTHER = _COURSE.alias("other_course")
_LAST_COURSE_ID = (
    select(func.max(_OTHER.c.id)).where(_OTHER.c.patient_id == BRIEF.selected_columns.id)
).scalar_subquery()
_HEAD = BRIEF.add_columns(
    *(_COURSE.c[name].label(f"course_{name}") for name in _COURSE_COLUMNS), _SESSIONS_DONE
).outerjoin(_COURSE, _COURSE.c.id == _LAST_COURSE_ID)
# every scored rating in time order, the latest of each instrument with its responses (a
# window function, one statement; SQLite >= 3.25 and PostgreSQL have them)
_RANKED = (
    select(
        _ASSESS.c.id,
        _ASSESS.c.instrument,
        _ASSESS.c.total,
        _ASSESS.c.administered_at,
        _ASSESS.c.administration_id,
        _ASSESS.c.severity,
        _ASSESS.c.suicide_flag,
        _ASSESS.c.source,
        _ASSESS.c.responses,
        func.row_number()
        .over(
            partition_by=_ASSESS.c.instrument,
            order_by=(_ASSESS.c.administered_at.desc(), _ASSESS.c.id.desc()),
        )
        .label("rank"),
    )
    .where(_ASSESS.c.patient_id == _PID, _ASSESS.c.total.is_not(None))
    .subquery()
)
_TOTALS = select(
    *(c for c in _RANKED.c if c.name not in ("responses", "rank")),
    type_coerce(case((_RANKED.c.rank == 1, _RANKED.c.responses)), JSON).label("responses"),
).order_by(_RANKED.c.administered_at, _RANKED.c.id)
_OPEN_ALERTS = (
    select(_ALERT)
    .where(
        _ALERT.c.patient_id == _PID,
        _ALERT.c.acknowledged_at.is_(None),
        _ALERT.c.cleared_at.is_(None),
    )
    .order_by(_ALERT.c.id)
)

# PostgreSQL through asyncpg (the API's busiest reads): the head row with the three lists as
# arrays of records, one round trip in all; otherwise the four statements
_LISTS = {
    "trials": NestedRows(_TRIALS, ("id",), "trials"),
    "totals": NestedRows(_TOTALS, ("administered_at", "id"), "totals"),
    "open_alerts": NestedRows(_OPEN_ALERTS, ("id",), "open_alerts"),
}
# the lists are read only for a reader the patient's site allows (authz.can_read, decided
# again in Python on the head row): a refused reader's statement costs no more for a patient
# with more data
_READER_ALLOWED = or_(
    bindparam("every_site", type_=Boolean),
    BRIEF.selected_columns.site_id == bindparam("reader_site", type_=Integer),
)
_HEAD_AND_LISTS = _HEAD.add_columns(
    *(case((_READER_ALLOWED, n.column)).label(name) for name, n in _LISTS.items())
)


def _read(db: Executor, actor: Actor, patient_id: int) -> tuple[Any, dict[str, list[Any]]]:
    """The head row (``_HEAD``) and the patient's ``trials``, scored ratings (``totals``) and
    ``open_alerts``: one statement through asyncpg, four otherwise (for a reader the site
    allows, the same values either way, read as attributes; through asyncpg a reader it does
    not allow gets empty lists). The caller checks ``can_read`` on the head row before using
    them.

    Raises:
        NotFound: no such patient."""
    conn = connection_of(db)
    if NestedRows.available(conn.dialect):
        return _read_at_once(conn, actor, patient_id)
    return _read_separately(conn, patient_id)


def _read_at_once(
    conn: Connection, actor: Actor, patient_id: int
) -> tuple[Any, dict[str, list[Any]]]:
    p = brief(
        conn,
        patient_id,
        _HEAD_AND_LISTS,
        every_site=reads_every_site(actor),
        reader_site=actor.site_id,
    )
    return p, {name: n.rows(p._mapping[name], conn.dialect) for name, n in _LISTS.items()}


def _read_separately(conn: Connection, patient_id: int) -> tuple[Any, dict[str, list[Any]]]:
    p = brief(conn, patient_id, _HEAD)
    key = {"patient_id": p.id}
    return p, {
        "trials": list(conn.execute(_TRIALS, key)),
        "totals": list(conn.execute(_TOTALS, key)),
        "open_alerts": list(conn.execute(_OPEN_ALERTS, key)),
    }


@core_only
def summary(db: Executor, actor: Actor, patient_id: int) -> dict[str, Any]:
    p, lists = _read(db, actor, patient_id)
    can_read(actor, p)
    trials = [_trial(t) for t in lists["trials"]]
    if not actor.identified_access:  # the drug as typed is free text; its ATC code says it
        trials = [t.model_copy(update={"drug": None}) for t in trials]
    trd = trd_status(trials)
    current = None
    if p.course_id is not None:
        course = SimpleNamespace(**{name: p._mapping[f"course_{name}"] for name in _COURSE_COLUMNS})
        current = {
            **views.course(course),  # type: ignore[arg-type]
            "sessions_recorded": p.done,
            "sessions_planned": len(course.plan["sessions"]),
        }
        current.pop("plan")
    by_instrument: dict[str, list[Any]] = {}
    for r in lists["totals"]:
        by_instrument.setdefault(r.instrument, []).append(r)
    scores = []
    for name, items in by_instrument.items():
        first, last = items[0], items[-1]
        entry: dict[str, Any] = {
            "instrument": name,
            "latest": views.assessment(last),
            "baseline": {
                "total": first.total,
                "administered_at": first.administered_at.isoformat(),
            },
            "count": len(items),
        }
        if len(items) > 1:
            cmp = compare(name, first.total, last.total, history=[i.total for i in items[1:-1]])
            entry["comparison"] = cmp.to_dict()
            instr = get(name)
            if instr.outcomes.remission and instr.outcomes.relapse:
                dated = [(i.administered_at, i.total) for i in items]
                entry["course"] = episode_course(instr, dated).to_dict()
            elif instr.outcomes.remission:
                entry["course"] = {
                    "not_evaluable": f"no relapse rule for {name} was found in raad's sources, "
                    "so relapse and recurrence are not called on it"
                }
        scores.append(entry)
    public = views.patient(p, identified=False, site_code=p.site_code)
    out = {
        # no identifiers here (GET /patients/{id} gives them, audited); a summary is not an
        # identified read, so it takes no write lock
        "patient": {"id": p.id, **public} if actor.identified_access else public,
        "trd": trd.to_dict(),
        "current_course": current,
        "scores": scores,
        "open_alerts": [views.alert(a) for a in lists["open_alerts"]],
        "disclaimer": "raad supports clinical judgement and never replaces it.",
    }
    return deid.view(actor, out, p.date_shift_days)


def _trial(t: Any) -> Trial:
    d = views.trial(t)
    d.pop("id")
    return Trial.model_validate(d)


PAGE_ROWS = 100


def patient_rows(db: Any, actor: Actor, q: str | None = None, offset: int = 0) -> dict[str, Any]:
    """One page (``PAGE_ROWS``) of the patients the caller may see, in name order (research id
    for researchers), each with its summary: ``{"rows": [{"patient", "summary"}], "total",
    "offset", "limit"}``."""
    from .patients import list_patients, patient_id_of

    listing = list_patients(db, actor, q=q, limit=PAGE_ROWS, offset=offset, order="name")
    rows = []
    for p in listing["items"]:
        pid = p.get("id")
        if pid is None:  # researchers: de-identified rows are keyed by research id
            pid = patient_id_of(db, p["research_id"])
        rows.append({"patient": p, "summary": summary(db, actor, pid)})
    return {"rows": rows, "total": listing["total"], "offset": offset, "limit": PAGE_ROWS}
