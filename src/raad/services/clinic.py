"""Today's clinic at a site: the sessions the active courses plan for the day and those
recorded, each with its state (due, in progress, observing, ready to leave, discharged), and the
open alerts of the site's patients (the alert inbox). A day is the site's calendar day in its
time zone (``sites.time_zone``; UTC for a site without one)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from raad.store.models import Administration, Alert, Course, Patient, Site, utcnow

from . import audit, views
from .context import Actor
from .errors import Forbidden, InvalidInput

STATES = ("due", "in progress", "observing", "ready to leave", "discharged")


def _site_id(db: Session, actor: Actor, site: str | None) -> int:
    if actor.role == "clinician":
        if site is not None and site != _code(db, actor.site_id):
            raise Forbidden("clinicians see the clinic of their own site", role=actor.role)
        assert actor.site_id is not None
        return actor.site_id
    if actor.role != "admin":
        raise Forbidden(
            f"role {actor.role!r} may not see the clinic list; allowed: admin, clinician",
            role=actor.role,
        )
    if not site:
        codes = ", ".join(db.scalars(select(Site.code).order_by(Site.code)).all()[:50])
        raise InvalidInput("site", site, f"a site code (admins name the site): {codes}")
    found = db.scalar(select(Site.id).where(Site.code == site))
    if found is None:
        raise InvalidInput("site", site, "an existing site code")
    return found


def _code(db: Session, site_id: int | None) -> str | None:
    return db.scalar(select(Site.code).where(Site.id == site_id))


def _zone(db: Session, site_id: int) -> ZoneInfo:
    """The site's time zone (UTC when none is set or the stored name is not known here)."""
    try:
        return ZoneInfo(db.scalar(select(Site.time_zone).where(Site.id == site_id)) or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def state(a: Administration, now: datetime) -> str:
    """Where a recorded session stands now."""
    if a.discharged_at is not None:
        return "discharged"
    if a.ready_to_leave_at is not None:
        return "ready to leave"
    end = a.start + timedelta(minutes=a.duration_min or 0)
    return "in progress" if now < end else "observing"


def today(
    db: Session, actor: Actor, day: date | None = None, site: str | None = None
) -> dict[str, Any]:
    """The day's clinic at the caller's site (admins name it): ``{"day", "site", "rows":
    [{"state", "patient", "course", "session", "planned"}], "alerts": [...], "time_zone"}``,
    rows ordered by time (planned sessions without a time last). ``day`` is the site's calendar
    day (today there when not given). A session ready to leave that an open alert still holds
    carries ``session.discharge_blocked``. Identified (clinicians and admins)."""
    site_id = _site_id(db, actor, site)
    zone = _zone(db, site_id)
    now = utcnow()
    day = day or now.astimezone(zone).date()
    # the site's midnight to its next midnight (23 or 25 hours on a clock-change day)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    patients = {
        p.id: p
        for p in db.scalars(
            select(Patient)
            .options(selectinload(Patient.identity))
            .where(Patient.site_id == site_id)
        )
    }

    def who(pid: int) -> dict[str, Any]:
        p = patients[pid]
        i = p.identity
        return {"id": p.id, "name": f"{i.family_name}, {i.given_name}", "mrn": i.mrn}

    recorded = db.scalars(
        select(Administration)
        .join(Patient, Patient.id == Administration.patient_id)
        .where(
            Patient.site_id == site_id, Administration.start >= start, Administration.start < end
        )
        .order_by(Administration.start)
    ).all()
    courses = {
        c.id: c
        for c in db.scalars(
            select(Course)
            .join(Patient, Patient.id == Course.patient_id)
            .where(Patient.site_id == site_id)
        )
    }
    alerts = db.scalars(
        select(Alert)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(
            Patient.site_id == site_id,
            Alert.acknowledged_at.is_(None),
            Alert.cleared_at.is_(None),
        )
        .order_by(Alert.blocks_discharge.desc(), Alert.raised_at)
    ).all()
    held = {x.administration_id for x in alerts if x.blocks_discharge}
    rows: list[dict[str, Any]] = []
    seen_courses = set()
    for a in recorded:
        seen_courses.add(a.course_id)
        c = courses.get(a.course_id)
        rows.append(
            {
                "state": state(a, now),
                "time": a.start.isoformat(),
                "patient": who(a.patient_id),
                "course": {"id": a.course_id, "regimen": c.regimen if c else None},
                "session": {
                    "id": a.id,
                    "agent": a.agent,
                    "ready_to_leave_at": a.ready_to_leave_at.isoformat()
                    if a.ready_to_leave_at
                    else None,
                    "discharge_blocked": a.discharged_at is None and a.id in held,
                },
                "planned": None,
            }
        )
    for c in courses.values():
        if c.status != "active" or c.id in seen_courses:
            continue
        for planned in c.plan.get("sessions", []):
            if planned.get("date") == day.isoformat():
                rows.append(
                    {
                        "state": "due",
                        "time": None,
                        "patient": who(c.patient_id),
                        "course": {"id": c.id, "regimen": c.regimen},
                        "session": None,
                        "planned": {"number": planned.get("number"), "dose": planned.get("dose")},
                    }
                )
    audit.record(
        db,
        actor,
        "read",
        "clinic-list",
        None,
        detail=f"site {_code(db, site_id)}, {day.isoformat()}",
    )
    return {
        "day": day.isoformat(),
        "site": _code(db, site_id),
        "time_zone": zone.key,
        "rows": sorted(rows, key=lambda r: (r["time"] is None, r["time"] or "")),
        "counts": {s: sum(1 for r in rows if r["state"] == s) for s in STATES},
        "alerts": [{**views.alert(x), "patient": who(x.patient_id)} for x in alerts],
    }
