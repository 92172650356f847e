"""Self-report schedules: when a course's patient is asked to answer from home.

A schedule is relative to each session (``offsets_hours`` after the session's start) or daily
at a local time (the site's zone) for ``days`` days from the course start. A course planned at
a site with self-report on starts with its agent's default (``knowledge/self_report.yaml``,
with the trial that set its time points or marked as raad's default); the clinician changes,
adds or stops schedules per patient.

``due_slots`` turns a schedule into the links it asks for (pure); ``materialize`` (a job) makes
the links that are due now, once each (a unique slot per schedule), and puts the invitation in
the outbox when the patient has a contact channel and agreed to it. Two links of one
instrument are never due closer together than its recall period (``min_gap_hours``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raad.knowledge.self_report import load_self_report
from raad.knowledge.treatment import regimens
from raad.store.models import (
    Administration,
    Course,
    Patient,
    PatientIdentity,
    SelfReportLink,
    SelfReportSchedule,
    Site,
    utcnow,
)

from . import audit, outbox
from .authz import can_read_identified, can_write
from .context import Actor
from .errors import InvalidInput, NotFound
from .patients import load
from .self_report import new_token, offered


@dataclass(frozen=True)
class Slot:
    """One time a schedule asks for an answer: ``key`` is unique within the schedule."""

    key: str
    due: datetime


def view(s: SelfReportSchedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "course_id": s.course_id,
        "instrument": s.instrument,
        "anchor": s.anchor,
        "offsets_hours": list(s.offsets_hours or []),
        "local_time": s.local_time,
        "days": s.days,
        "valid_hours": s.valid_hours,
        "active": s.active,
        "origin": s.origin,
    }


def due_slots(
    s: Any,
    course_start: date,
    session_starts: list[tuple[int, datetime]],
    zone: ZoneInfo,
) -> list[Slot]:
    """Every slot of schedule ``s`` (session: per recorded session and offset; daily: per
    day from the course start), in time order, closer ones than the instrument's recall
    period dropped (the earlier one is kept)."""
    slots: list[Slot] = []
    if s.anchor == "session":
        for sid, start in session_starts:
            for h in s.offsets_hours or []:
                slots.append(Slot(f"s{sid}+{h:g}h", start + timedelta(hours=h)))
    else:
        hh, mm = (int(x) for x in (s.local_time or "20:00").split(":"))
        for n in range(s.days or 0):
            day = course_start + timedelta(days=n)
            local = datetime.combine(day, time(hh, mm), tzinfo=zone)
            slots.append(Slot(f"d{day.isoformat()}", local))
    slots.sort(key=lambda x: x.due)
    gap = timedelta(hours=load_self_report().min_gap_hours.get(s.instrument, 0))
    kept: list[Slot] = []
    for slot in slots:
        if kept and slot.due - kept[-1].due < gap:
            continue
        kept.append(slot)
    return kept


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def start_defaults(db: Session, actor: Actor | None, course: Course) -> SelfReportSchedule | None:
    """The agent's default schedule for a newly planned course, when the patient's site has
    self-report on (None otherwise, or when the agent has none)."""
    p = db.get(Patient, course.patient_id)
    site = db.get(Site, p.site_id) if p else None
    default = load_self_report().default_for(course.agent)
    if site is None or not site.self_report or default is None:
        return None
    days = None
    if default.anchor == "daily":
        regimen = regimens().get(course.regimen)
        days = getattr(regimen, "days", None)
        if not days:
            return None  # a daily diary needs the course's length in days
    s = SelfReportSchedule(
        course_id=course.id,
        instrument=default.instrument,
        anchor=default.anchor,
        offsets_hours=list(default.offsets_hours) or None,
        local_time=default.local_time,
        days=days,
        valid_hours=load_self_report().link.valid_hours,
        active=True,
        origin=default.id,
        created_by=actor.user_id if actor else None,
    )
    db.add(s)
    db.flush()
    audit.record(db, actor, "create", "self-report-schedule", s.id, patient_id=p.id, after=view(s))
    return s


def _course(db: Session, course_id: int) -> Course:
    c = db.get(Course, course_id)
    if c is None:
        raise NotFound(f"course {course_id} not found")
    return c


def list_for(db: Session, actor: Actor, course_id: int) -> list[dict[str, Any]]:
    c = _course(db, course_id)
    can_read_identified(actor, load(db, c.patient_id))
    rows = db.scalars(
        select(SelfReportSchedule)
        .where(SelfReportSchedule.course_id == c.id)
        .order_by(SelfReportSchedule.id)
    )
    return [view(s) for s in rows]


_SESSION_FIELDS = {"offsets_hours"}
_DAILY_FIELDS = {"local_time", "days"}


def _check(fields: dict[str, Any], anchor: str, given: set[str] | None = None) -> None:
    """A schedule's times for its anchor; ``given``: the fields a change names (a field of the
    other anchor is refused, not stored)."""
    foreign = (given or set()) & (_DAILY_FIELDS if anchor == "session" else _SESSION_FIELDS)
    if foreign:
        name = sorted(foreign)[0]
        raise InvalidInput(
            name,
            fields.get(name),
            f"no {name} on a {anchor} schedule (its fields: "
            + ", ".join(sorted(_SESSION_FIELDS if anchor == "session" else _DAILY_FIELDS))
            + ")",
        )
    if fields.get("valid_hours") is not None and fields["valid_hours"] < 1:
        raise InvalidInput("valid_hours", fields["valid_hours"], "at least 1 hour, up to 720")
    if anchor == "session":
        offsets = fields.get("offsets_hours") or []
        if not offsets or any(not 0 < h <= 24 * 60 for h in offsets):
            raise InvalidInput(
                "offsets_hours", offsets, "hours after each session, each above 0 and up to 1440"
            )
        if len(set(offsets)) != len(offsets):
            raise InvalidInput("offsets_hours", offsets, "each offset once")
    else:
        if not fields.get("local_time"):
            raise InvalidInput("local_time", None, "HH:MM in the site's time zone")
        hh, mm = (int(x) for x in fields["local_time"].split(":"))
        if not (0 <= hh <= 23 and 0 <= mm <= 59):
            raise InvalidInput("local_time", fields["local_time"], "a time of day, 00:00-23:59")
        if not fields.get("days"):
            raise InvalidInput("days", fields.get("days"), "for how many days (1-366)")


def add(db: Session, actor: Actor, course_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """A schedule the clinician adds to a course (origin "clinician"), audited."""
    c = _course(db, course_id)
    p = load(db, c.patient_id)
    can_write(actor, p.site_id)
    name = offered(fields["instrument"])
    agents_ = load_self_report().only_for_agents.get(name)
    if agents_ and c.agent not in agents_:
        raise InvalidInput(
            "instrument",
            name,
            f"a questionnaire for a {c.agent} course ({name} is for "
            + ", ".join(agents_)
            + " courses)",
        )
    given = {k for k, v in fields.items() if v is not None}
    _check(fields, fields["anchor"], given)
    s = SelfReportSchedule(
        course_id=c.id,
        instrument=name,
        anchor=fields["anchor"],
        offsets_hours=fields.get("offsets_hours") if fields["anchor"] == "session" else None,
        local_time=fields.get("local_time") if fields["anchor"] == "daily" else None,
        days=fields.get("days") if fields["anchor"] == "daily" else None,
        valid_hours=fields.get("valid_hours") or load_self_report().link.valid_hours,
        active=True,
        origin="clinician",
        created_by=actor.user_id,
    )
    db.add(s)
    db.flush()
    out = view(s)
    audit.record(db, actor, "create", "self-report-schedule", s.id, patient_id=p.id, after=out)
    return out


def update(db: Session, actor: Actor, schedule_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a schedule's times or stop it (links already made stay), audited."""
    s = db.get(SelfReportSchedule, schedule_id)
    if s is None:
        raise NotFound(f"self-report schedule {schedule_id} not found")
    c = _course(db, s.course_id)
    p = load(db, c.patient_id)
    can_write(actor, p.site_id)
    before = view(s)
    merged = {**before, **{k: v for k, v in changes.items() if v is not None or k == "active"}}
    _check(merged, s.anchor, {k for k, v in changes.items() if v is not None})
    for key in ("offsets_hours", "local_time", "days", "valid_hours"):
        if changes.get(key) is not None:
            setattr(s, key, changes[key])
    if changes.get("active") is not None:
        s.active = bool(changes["active"])
    after = view(s)
    audit.record(
        db,
        actor,
        "update",
        "self-report-schedule",
        s.id,
        patient_id=p.id,
        before=before,
        after=after,
    )
    return after


# --- the jobs ------------------------------------------------------------------------------


def materialize(
    db: Session, now: datetime, base_url: str | None, channels: frozenset[str] | None = None
) -> int:
    """Make the link each active schedule asks for now (its latest slot due and not
    expired, newer than its newest link; none within the instrument's recall period of
    another link of the patient's), with the invitation queued when the patient can be
    contacted on a channel with a sender (``channels``; all when None) and ``base_url`` (where
    patients reach raad) is set. Returns the number of links made."""
    made = 0
    rows = db.execute(
        select(SelfReportSchedule, Course, Patient, Site)
        .join(Course, Course.id == SelfReportSchedule.course_id)
        .join(Patient, Patient.id == Course.patient_id)
        .join(Site, Site.id == Patient.site_id)
        .where(
            SelfReportSchedule.active.is_(True),
            Course.status == "active",
            Site.self_report.is_(True),
        )
    ).all()
    for s, course, patient, site in rows:
        sessions = [
            (a.id, a.start)
            for a in db.scalars(
                select(Administration)
                .where(Administration.course_id == course.id)
                .order_by(Administration.start)
            )
        ]
        mine = db.execute(
            select(SelfReportLink.slot, SelfReportLink.due_at).where(
                SelfReportLink.schedule_id == s.id
            )
        ).all()
        have = {r.slot for r in mine}
        newest = max((r.due_at for r in mine), default=None)
        # the latest slot due now and not expired, newer than the schedule's newest link:
        # one link per schedule per round, and slots missed while nothing ran are not made
        # afterwards (a patient is not sent a burst of old questionnaires)
        ready = [
            slot
            for slot in due_slots(s, course.start_date, sessions, _zone(site.time_zone))
            if slot.key not in have
            and slot.due <= now
            and slot.due + timedelta(hours=s.valid_hours) > now
            and (newest is None or slot.due > newest)
        ]
        if not ready:
            continue
        slot = ready[-1]
        gap = timedelta(hours=load_self_report().min_gap_hours.get(s.instrument, 0))
        near = db.scalar(
            select(SelfReportLink.id).where(
                SelfReportLink.patient_id == patient.id,
                SelfReportLink.instrument == s.instrument,
                SelfReportLink.revoked_at.is_(None),
                SelfReportLink.due_at > slot.due - gap,
                SelfReportLink.due_at < slot.due + gap,
            )
        )
        if near is not None:  # another schedule (or a clinician) asked within the recall period
            continue
        expires = slot.due + timedelta(hours=s.valid_hours)
        link = SelfReportLink(
            patient_id=patient.id,
            course_id=course.id,
            schedule_id=s.id,
            slot=slot.key,
            instrument=s.instrument,
            due_at=slot.due,
            expires_at=expires,
            created_by=s.created_by or course.created_by,
        )
        try:
            with db.begin_nested():
                db.add(link)
                db.flush()
        except IntegrityError:  # another worker made this slot meanwhile
            continue
        made += 1
        invite(db, link, "invitation", base_url, now, channels)
    return made


def invite(
    db: Session,
    link: SelfReportLink,
    kind: str,
    base_url: str | None,
    now: datetime,
    channels: frozenset[str] | None = None,
    key: str | None = None,
) -> bool:
    """Queue an invitation or a reminder for ``link`` with a fresh token, when the patient has
    a contact channel they agreed to, a sender exists for it (``channels``; all when None)
    and ``base_url`` is set; returns whether one was queued. The message says only that a
    questionnaire is waiting (knowledge/self_report.yaml)."""
    ident = db.get(PatientIdentity, link.patient_id)
    if (
        base_url is None
        or ident is None
        or ident.contact_channel not in ("email", "sms")
        or ident.contact_consent_at is None
        or (channels is not None and ident.contact_channel not in channels)
    ):
        return False
    recipient = ident.email if ident.contact_channel == "email" else ident.phone
    if not recipient:
        return False
    token = new_token(db, link)
    words = load_self_report().messages
    url = base_url.rstrip("/") + "/r/" + token
    expires = link.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    body = (words.invitation if kind == "invitation" else words.reminder).format(
        url=url, expires=expires
    )
    subject = words.invitation_subject if kind == "invitation" else words.reminder_subject
    outbox.enqueue(
        db,
        key=key or f"link-{link.id}-{kind}",
        link_id=link.id,
        kind=kind,
        channel=ident.contact_channel,
        recipient=recipient,
        subject=subject if ident.contact_channel == "email" else None,
        body=body.strip(),
        when=now,
    )
    return True


def remind(
    db: Session, now: datetime, base_url: str | None, channels: frozenset[str] | None = None
) -> int:
    """Queue one reminder for each open, unanswered link whose invitation went out and which
    expires within the reminder time (knowledge/self_report.yaml); and the invitation of an
    open scheduled link that has none yet (the patient gave a contact, or a sender was set
    up, after it was made). Returns how many reminders."""
    from raad.store.models import OutboxMessage

    uninvited = db.scalars(
        select(SelfReportLink).where(
            SelfReportLink.schedule_id.is_not(None),
            SelfReportLink.used_at.is_(None),
            SelfReportLink.revoked_at.is_(None),
            SelfReportLink.expires_at > now,
            SelfReportLink.due_at <= now,
            ~select(OutboxMessage.id)
            .where(OutboxMessage.link_id == SelfReportLink.id, OutboxMessage.kind == "invitation")
            .exists(),
        )
    ).all()
    for link in uninvited:
        invite(db, link, "invitation", base_url, now, channels)
    before = timedelta(hours=load_self_report().link.remind_before_expiry_hours)
    links = db.scalars(
        select(SelfReportLink).where(
            SelfReportLink.used_at.is_(None),
            SelfReportLink.revoked_at.is_(None),
            SelfReportLink.reminded_at.is_(None),
            SelfReportLink.expires_at > now,
            SelfReportLink.expires_at <= now + before,
            SelfReportLink.due_at <= now,
        )
    ).all()
    sent = 0
    for link in links:
        if not outbox.was_sent(db, f"link-{link.id}-invitation"):
            continue
        link.reminded_at = now
        if invite(db, link, "reminder", base_url, now, channels):
            sent += 1
    return sent


def resend(db: Session, message_id: int, base_url: str | None) -> dict[str, Any]:
    """Send again, with a fresh token, a message that failed or whose fate is unknown (an
    admin's decision), when its link is still open; the old message is marked cancelled."""
    from raad.store.models import OutboxMessage

    m = db.get(OutboxMessage, message_id)
    if m is None or m.status not in ("failed", "unknown"):
        raise InvalidInput("message", message_id, "a message that failed or whose fate is unknown")
    link = db.get(SelfReportLink, m.link_id) if m.link_id else None
    now = utcnow()
    if link is None or link.used_at or link.revoked_at or link.expires_at <= now:
        raise InvalidInput("message", message_id, "a message whose link is still open")
    tries = 1 + (m.attempts or 0)
    queued = invite(db, link, m.kind, base_url, now, key=f"{m.message_key}-again-{m.id}-{tries}")
    if not queued:
        raise InvalidInput(
            "message", message_id, "a patient who can still be contacted (contact and consent)"
        )
    m.status, m.body, m.last_error = "cancelled", None, "sent again as a new message"
    return {"resent": message_id, "link_id": link.id}
