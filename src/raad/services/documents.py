"""Printable documents of a session (PDF): the SPRAVATO REMS Patient Monitoring Form's data
filled from the record, and the whole session record for the paper chart. Both are identified
reads (clinicians of the patient's site and admins), audited like any other."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from raad.interop.pdf import course_summary_pdf, rems_form_pdf, session_record_pdf
from raad.store.models import utcnow

from . import assessments, audit, courses, patients, sessions
from .authz import can_read_identified
from .context import Actor
from .errors import Conflict


def site_zone(site: Any) -> str:
    """The IANA zone a site's documents are printed in (UTC without one, or if unknown)."""
    name = getattr(site, "time_zone", None) or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def _gather(db: Session, actor: Actor, session_id: int) -> tuple[Any, dict, dict]:
    a = sessions.load_session(db, session_id)
    p = patients.load(db, a.patient_id)
    can_read_identified(actor, p)
    view = sessions.get(db, actor, session_id)
    person = patients.get(db, actor, p.id)  # the audited identified read
    return p, view, person


def rems_form(db: Session, actor: Actor, session_id: int) -> bytes:
    """The REMS monitoring-form data of an esketamine session (PDF bytes).

    Raises:
        NotFound, Forbidden (researchers; another site), Conflict (not an esketamine session).
    """
    p, view, person = _gather(db, actor, session_id)
    if view["agent"] != "esketamine":
        raise Conflict(
            f"session {session_id} is a {view['agent']} session: the REMS Patient Monitoring "
            "Form is for esketamine (SPRAVATO) sessions"
        )
    due = view["rems"]["due_by"]
    audit.record(db, actor, "read", "session-pdf", session_id, patient_id=p.id, detail="rems-form")
    return rems_form_pdf(
        view, person, p.site.name, due, utcnow().isoformat(), zone=site_zone(p.site)
    )


def session_record(db: Session, actor: Actor, session_id: int) -> bytes:
    """The printable session record (PDF bytes).

    Raises:
        NotFound, Forbidden (researchers; another site).
    """
    p, view, person = _gather(db, actor, session_id)
    course = courses.get(db, actor, view["course_id"])
    audit.record(db, actor, "read", "session-pdf", session_id, patient_id=p.id, detail="record")
    return session_record_pdf(
        view, person, course, p.site.name, utcnow().isoformat(), zone=site_zone(p.site)
    )


def course_summary(db: Session, actor: Actor, course_id: int) -> bytes:
    """The printable course summary (PDF bytes): plan, sessions, ratings from the course's
    start, signatures.

    Raises:
        NotFound, Forbidden (researchers; another site).
    """
    c = courses.load_course(db, course_id)
    p = patients.load(db, c.patient_id)
    can_read_identified(actor, p)
    course = courses.get(db, actor, course_id)
    person = patients.get(db, actor, p.id)
    done = sessions.list_sessions(db, actor, course_id=course_id, limit=200)["items"]
    ratings = [
        r
        for r in assessments.list_for(db, actor, p.id)
        if r["administered_at"][:10] >= course["start"]
    ]
    audit.record(db, actor, "read", "course-pdf", course_id, patient_id=p.id)
    return course_summary_pdf(
        course,
        done,
        ratings,
        person,
        p.site.name,
        utcnow().isoformat(),
        zone=site_zone(p.site),
    )
