"""Patients reporting from home: self-report links and what a patient sees through one.

A link asks one patient for one questionnaire. Its token is a random 256-bit string that
appears only in the URL given to the patient (and, until sent, in the outbox message that
carries it); raad keeps its SHA-256. A link works from when it is made until it expires, once:
the first complete answer is stored as an assessment with ``source: "patient"`` (its
``created_by`` is the clinician who sent the link or set up the schedule) and the link is
used. Links are revocable. Opening a link shows the questionnaire and nothing else: no name,
no clinic, no other data. A positive suicide item raises the critical alert at once and the
patient is shown the site's crisis resources, and whether anyone reads answers as they come.

Rules and defaults: ``knowledge/self_report.yaml``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from raad.clinical.safety import Alert as SafetyAlert
from raad.interop.fhir_scales import read_response
from raad.knowledge.self_report import load_self_report
from raad.scales import ScaleInputError, get
from raad.store.models import (
    Alert,
    Assessment,
    Course,
    Patient,
    PatientIdentity,
    SelfReportLink,
    SelfReportToken,
    Site,
    utcnow,
)

from . import assessments, audit, outbox
from .alerts import store_alert
from .authz import can_read_identified, can_write
from .context import Actor
from .errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, NotYet
from .patients import load
from .schemas import AssessmentIn

NOT_VALID = "This link is not valid. Please check it, or ask your clinic for a new one."
# shown when the site has set no crisis resources, or the link is unknown: no number is given
# (raad does not know where the reader is)
GENERAL_CRISIS = (
    "If you are in danger or might harm yourself, call your local emergency number now or go "
    "to the nearest emergency department."
)
CLOSED = (
    "This link has expired or has already been used. If you still need to answer, ask your "
    "clinic for a new link."
)
PICK = "Please choose one of the answers offered for each question."
MAX_VALID = timedelta(days=30)  # raad's limit on how long one link may stay open
TOKEN_BYTES = 32
PATH = "/r/"


def token_hash(token: str) -> str:
    """The SHA-256 (hex) raad keeps of a link's token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(db: Session, link: SelfReportLink) -> str:
    """A fresh token for ``link`` (one per message sent: an invitation and a reminder each
    carry their own); only its hash is stored. Returns the token for the URL."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.add(SelfReportToken(link_id=link.id, token_sha256=token_hash(token)))
    return token


def state(link: SelfReportLink, now: datetime | None = None) -> str:
    """scheduled (not due yet) | due | answered | expired (never answered) | revoked."""
    now = now or utcnow()
    if link.revoked_at is not None:
        return "revoked"
    if link.used_at is not None:
        return "answered"
    if link.expires_at <= now:
        return "expired"
    return "due" if link.due_at <= now else "scheduled"


def view(link: SelfReportLink, now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": link.id,
        "patient_id": link.patient_id,
        "course_id": link.course_id,
        "schedule_id": link.schedule_id,
        "instrument": link.instrument,
        "due_at": link.due_at.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "state": state(link, now),
        "opened_at": link.opened_at.isoformat() if link.opened_at else None,
        "used_at": link.used_at.isoformat() if link.used_at else None,
        "assessment_id": link.assessment_id,
        "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
        "revoked_reason": link.revoked_reason,
        "reminded_at": link.reminded_at.isoformat() if link.reminded_at else None,
        "draft": bool(link.draft),
        # a daily diary's link is about one day (the site's calendar day)
        "day": link.slot[1:] if link.slot and link.slot.startswith("d") else None,
    }


def offered(instrument: str) -> str:
    """The instrument's registry name if patients may be sent it; else InvalidInput."""
    settings = load_self_report()
    try:
        name = get(instrument).name
    except ScaleInputError:
        name = instrument
    if name not in settings.instruments:
        why = settings.not_offered.get(name)
        raise InvalidInput(
            "instrument",
            instrument,
            f"one of {', '.join(settings.instruments)}" + (f" ({name}: {why})" if why else ""),
        )
    return name


def site_of(db: Session, site_id: int) -> Site:
    site = db.get(Site, site_id)
    assert site is not None
    return site


def _opted_in(db: Session, site_id: int) -> Site:
    site = site_of(db, site_id)
    if not site.self_report:
        raise Conflict(
            f"site {site.code} has not turned on self-report from home: an admin turns it on "
            "(PATCH /sites/{code} with self_report: true, and the crisis resources to show)"
        )
    return site


def create_link(
    db: Session,
    actor: Actor,
    patient_id: int,
    instrument: str,
    due: datetime | None = None,
    expires: datetime | None = None,
    course_id: int | None = None,
) -> dict[str, Any]:
    """A link for one questionnaire, made by a clinician of the patient's site (or an admin),
    to hand over or send: ``{..., "token", "path"}`` (the token is shown this once).

    ``due``: when it is due (default now); ``expires``: default due + the link lifetime
    (knowledge/self_report.yaml), at most 30 days after ``due`` and after now.

    Raises:
        NotFound, Forbidden, InvalidInput (instrument, due, expires, course_id), Conflict (the
        site has not turned self-report on).
    """
    p = load(db, patient_id)
    can_write(actor, p.site_id)
    _opted_in(db, p.site_id)
    name = offered(instrument)
    now = utcnow()
    due = (due or now).astimezone(UTC)
    if expires is None:
        expires = due + timedelta(hours=load_self_report().link.valid_hours)
        if expires <= now:
            raise InvalidInput(
                "due",
                due.isoformat(),
                "a due time recent enough that the link has not already expired (or give expires)",
            )
    expires = expires.astimezone(UTC)
    if expires <= max(due, now):
        raise InvalidInput(
            "expires", expires.isoformat(), "a time after the due time and after now"
        )
    if expires - due > MAX_VALID:
        raise InvalidInput("expires", expires.isoformat(), "at most 30 days after the due time")
    if course_id is not None:
        course = db.get(Course, course_id)
        if course is None or course.patient_id != p.id:
            raise InvalidInput("course_id", course_id, "a course of this patient")
    link = SelfReportLink(
        patient_id=p.id,
        course_id=course_id,
        instrument=name,
        due_at=due,
        expires_at=expires,
        created_by=actor.user_id,
    )
    db.add(link)
    db.flush()
    token = new_token(db, link)
    out = view(link, now)
    audit.record(db, actor, "create", "self-report-link", link.id, patient_id=p.id, after=out)
    return {**out, "token": token, "path": PATH + token}


def list_links(db: Session, actor: Actor, patient_id: int) -> list[dict[str, Any]]:
    """The patient's links, newest due first (identified: clinicians of the site, admins)."""
    p = load(db, patient_id)
    can_read_identified(actor, p)
    now = utcnow()
    rows = db.scalars(
        select(SelfReportLink)
        .where(SelfReportLink.patient_id == p.id)
        .order_by(SelfReportLink.due_at.desc(), SelfReportLink.id.desc())
        .limit(500)
    )
    return [view(x, now) for x in rows]


def revoke(db: Session, actor: Actor, link_id: int, reason: str | None) -> dict[str, Any]:
    """Stop a link working (with a reason, audited); an answered link cannot be revoked."""
    link = db.get(SelfReportLink, link_id)
    if link is None:
        raise NotFound(f"self-report link {link_id} not found")
    p = load(db, link.patient_id)
    can_write(actor, p.site_id)
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("reason", reason, "why the link is revoked")
    if link.used_at is not None:
        raise Conflict(f"link {link_id} was answered; its answers stay in the record")
    if link.revoked_at is not None:
        raise Conflict(f"link {link_id} was already revoked")
    before = view(link)
    link.revoked_at, link.revoked_by, link.revoked_reason = utcnow(), actor.user_id, why
    outbox.cancel_for_link(db, link.id, "the link was withdrawn")
    after = view(link)
    audit.record(
        db,
        actor,
        "update",
        "self-report-link",
        link.id,
        patient_id=p.id,
        before=before,
        after=after,
        reason=why,
    )
    return after


# --- what the patient sees ----------------------------------------------------------------


def _find(db: Session, token: str) -> SelfReportLink | None:
    if not token or len(token) > 128:
        return None
    return db.scalar(
        select(SelfReportLink)
        .join(SelfReportToken, SelfReportToken.link_id == SelfReportLink.id)
        .where(SelfReportToken.token_sha256 == token_hash(token))
    )


def _open(db: Session, token: str, now: datetime) -> tuple[SelfReportLink, Site]:
    """The link a token opens. Raises NotFound (unknown token), Gone (used, withdrawn,
    expired, or the site has turned self-report off: one plain message whatever the reason)
    or NotYet (not due yet)."""
    link = _find(db, token)
    if link is None:
        raise NotFound(NOT_VALID)
    site = site_of(db, load(db, link.patient_id).site_id)
    if (
        link.used_at is not None
        or link.revoked_at is not None
        or link.expires_at <= now
        or not site.self_report
    ):
        raise Gone(CLOSED)
    if link.due_at > now:
        raise NotYet(
            "This questionnaire is not open yet. Please use the link again from "
            + link.due_at.strftime("%Y-%m-%d %H:%M UTC")
            + "."
        )
    return link, site


def crisis_for(db: Session, token: str) -> str:
    """The crisis resources to show with any answer to ``token``: the site's, or raad's
    general line when the token is unknown or the site has none."""
    link = _find(db, token)
    if link is not None:
        site = site_of(db, load(db, link.patient_id).site_id)
        if site.crisis_text:
            return site.crisis_text
    return GENERAL_CRISIS


def _notice(site: Site) -> str:
    if site.monitored_in_real_time:
        return "Your answers are read by your clinic as they arrive."
    return (
        "Your answers are not read as they arrive: they are seen at your clinic's next working "
        "review. If you need help now, use the crisis contacts on this page."
    )


def questionnaire(db: Session, token: str) -> dict[str, Any]:
    """What a link shows: the instrument's items and answers, the notice whether answers are
    read in real time, and the crisis resources. No identifiers. The first opening is marked
    and audited (later ones are not: anyone holding the link could fill the trail)."""
    now = utcnow()
    link, site = _open(db, token, now)
    if link.opened_at is None:
        link.opened_at = now
        audit.record(
            db,
            None,
            "read",
            "self-report-link",
            link.id,
            patient_id=link.patient_id,
            detail="opened through the link",
        )
    instr = get(link.instrument)
    day = None
    if link.slot and link.slot.startswith("d"):  # a daily diary: the day it is about
        day = link.slot[1:]
    return {
        "instrument": instr.name,
        "title": instr.title,
        "recall_period": instr.recall_period,
        "day": day,
        "items": [
            {
                "id": i.id,
                "text": i.text or i.label,
                "answers": [{"value": a.value, "label": a.label} for a in i.answers]
                or [{"value": v, "label": str(v)} for v in range(i.min, i.max + 1)],
                "asked_if": i.asked_if,
            }
            for i in instr.items
        ],
        "extra_items": [
            {
                "id": e.id,
                "text": e.label,
                "answers": [{"value": a.value, "label": a.label} for a in e.answers],
            }
            for e in instr.extra_items
        ],
        "expires_at": link.expires_at.isoformat(),
        "notice": _notice(site),
        "crisis_text": site.crisis_text or GENERAL_CRISIS,
        "draft": dict(link.draft or {}),
    }


def parse_answers(link_instrument: str, responses: dict[str, Any]) -> dict[str, int]:
    """A form's answers as item -> value: only the questionnaire's own items, each a whole
    number written with ASCII digits (no signs, other scripts, underscores or lists); an
    empty answer is left out. Raises InvalidInput naming the item (in the patient's words)."""
    keys = set(get(link_instrument).response_keys)
    out: dict[str, int] = {}
    for key, raw in responses.items():
        if key not in keys:
            raise InvalidInput(
                f"responses ({key})",
                raw,
                "Please answer only the questions on this page (open the link again).",
            )
        if isinstance(raw, list):
            raise InvalidInput(f"responses ({key})", raw, "Please give one answer per question.")
        text_ = "" if raw is None else str(raw)
        if text_ == "":
            continue
        if not re.fullmatch(r"[0-9]{1,3}", text_):
            raise InvalidInput(f"responses ({key})", raw, PICK)
        out[key] = int(text_)
    return out


def _signal(db: Session, link: SelfReportLink, answers: dict[str, int], where: str) -> bool:
    """A positive suicide item in answers not (yet) stored as an assessment (a draft, a
    partial or late submission): the critical alert is raised at once, once per link.
    Returns whether the answers hold one."""
    instr = get(link.instrument)
    flagged = [
        si.item for si in instr.suicide_items if answers.get(si.item, 0) >= si.flag_at_or_above
    ]
    if not flagged:
        return False
    known = db.scalars(
        select(Alert.facts).where(Alert.patient_id == link.patient_id, Alert.code == "suicide-item")
    ).all()
    if any((f or {}).get("self_report_link") == link.id for f in known):
        return True
    cites = tuple(dict.fromkeys(c.source for si in instr.suicide_items for c in si.cite))
    store_alert(
        db,
        SafetyAlert(
            "suicide-item",
            "critical",
            f"{instr.name}: suicide item(s) {', '.join(flagged)} positive in answers {where} "
            "through a self-report link; assess suicide risk now.",
            {
                "instrument": instr.name,
                "items": {i: answers[i] for i in flagged},
                "self_report_link": link.id,
                "not_stored_as_a_rating": True,
            },
            cites,
            True,
        ),
        patient_id=link.patient_id,
    )
    return True


def save_draft(db: Session, token: str, responses: dict[str, Any], where: str) -> dict[str, Any]:
    """Keep what the patient has answered so far on the link (``where``: "saved to finish
    later" or "sent incomplete"); the page shows it again until the link is used or expires.
    A positive suicide item among them raises the critical alert now; the result then holds
    the crisis resources."""
    link, site = _open(db, token, utcnow())
    try:
        answers = parse_answers(link.instrument, responses)
    except InvalidInput:  # keep the answers that are well formed
        answers = {}
        for key, raw in responses.items():
            try:
                answers.update(parse_answers(link.instrument, {key: raw}))
            except InvalidInput:
                continue
    link.draft = answers
    flagged = _signal(db, link, answers, where)
    return {
        "saved": len(answers),
        "expires_at": link.expires_at.isoformat(),
        "suicide_flag": flagged,
        "crisis_text": site.crisis_text or GENERAL_CRISIS,
        "notice": _notice(site),
    }


def late_signal(db: Session, token: str, responses: dict[str, Any]) -> bool:
    """Answers sent to a link that has just closed (expired, used, withdrawn) are not stored,
    but a positive suicide item among them still raises the critical alert. Returns whether
    it did; an unknown token raises nothing."""
    link = _find(db, token)
    if link is None:
        return False
    try:
        answers = parse_answers(link.instrument, responses)
    except InvalidInput:
        return False
    return _signal(db, link, answers, "sent after the link had closed")


def check(db: Session, token: str) -> None:
    """Raise as ``_open`` would (a patient app's request is checked for its token first)."""
    _open(db, token, utcnow())  # raises for a link that does not open


def submit(
    db: Session,
    token: str,
    responses: dict[str, Any] | None = None,
    fhir: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store the patient's answers (a form's item -> value, or a FHIR QuestionnaireResponse
    of the link's instrument with status completed and no subject: the link says whose they
    are) as an assessment with ``source: "patient"``; the link is used.

    Returns ``{"stored": True, "suicide_flag", "crisis_text", "notice", "disagreements"}``:
    the crisis resources are returned when a suicide item is positive (the critical alert is
    raised for the patient's clinicians in the same transaction); ``disagreements``: where a
    QuestionnaireResponse states a total or risk other than raad computes (kept in the audit
    trail; raad's score is stored).

    Raises:
        NotFound, Gone, NotYet (see ``_open``), InvalidInput (an answer missing or not
        allowed; a response to another questionnaire; another status; a subject).
    """
    now = utcnow()
    link, site = _open(db, token, now)
    disagreements: tuple[str, ...] = ()
    if fhir is not None:
        if fhir.get("status") != "completed":
            raise InvalidInput(
                "QuestionnaireResponse.status",
                fhir.get("status"),
                "completed (save unfinished answers in the app)",
            )
        if fhir.get("subject") is not None:
            raise InvalidInput(
                "QuestionnaireResponse.subject",
                "given",
                "no subject: the link says whose answers these are",
            )
        try:
            read = read_response(fhir)
        except ScaleInputError as exc:
            raise InvalidInput(
                f"QuestionnaireResponse ({exc.field})", exc.value, exc.allowed
            ) from None
        except ValueError as exc:  # not a QuestionnaireResponse at all
            first = str(exc).split("\n")
            detail = "; ".join(x.strip() for x in first[1:3] if x.strip()) or first[0]
            raise InvalidInput(
                "QuestionnaireResponse", None, f"a FHIR R4 QuestionnaireResponse ({detail})"
            ) from None
        if read.score.instrument != link.instrument:
            raise InvalidInput(
                "QuestionnaireResponse.questionnaire",
                read.score.instrument,
                f"a response to {link.instrument}, the questionnaire this link asks for",
            )
        answers = {**read.score.items, **read.score.extra}
        disagreements = read.disagreements
    else:
        answers = parse_answers(link.instrument, responses or {})
    # claim the link first: of two submissions of one link, only one stores anything
    claimed = db.execute(
        update(SelfReportLink)
        .where(SelfReportLink.id == link.id, SelfReportLink.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if claimed != 1:
        raise Gone(CLOSED)
    p = load(db, link.patient_id)
    owner = link.created_by or db.scalar(
        select(Course.created_by).where(Course.id == link.course_id)
    )
    try:
        stored = assessments.store(
            db,
            p,
            AssessmentIn(instrument=link.instrument, responses=answers, administered_at=now),
            created_by=owner,
            actor=None,
            source="patient",
            link_id=link.id,
        )
    except InvalidInput as exc:
        raise InvalidInput(
            exc.detail.get("field", "responses"), exc.detail.get("value"), _plain(exc)
        ) from None
    if disagreements:
        audit.record(
            db,
            None,
            "read",
            "self-report-link",
            link.id,
            patient_id=p.id,
            detail="; ".join(disagreements),
        )
    db.execute(
        update(SelfReportLink)
        .where(SelfReportLink.id == link.id)
        .values(assessment_id=stored["id"], draft=None)
    )
    outbox.cancel_for_link(db, link.id, "the questionnaire was answered")
    flagged = bool(stored["suicide_flag"])
    return {
        "stored": True,
        "suicide_flag": flagged,
        "crisis_text": (site.crisis_text or GENERAL_CRISIS) if flagged else None,
        "notice": _notice(site),
        "disagreements": list(disagreements),
    }


def _plain(exc: InvalidInput) -> str:
    """What was wrong with a patient's answers, in the patient's words."""
    allowed = str(exc.detail.get("allowed", ""))
    value = str(exc.detail.get("value", ""))
    if "every item answered" in allowed or "missing" in value:
        missing = value.replace("missing", "").strip()
        return (
            "Please answer every question"
            + (f" (not yet answered: {missing})" if missing else "")
            + "."
        )
    return PICK


# --- contact details and site settings ----------------------------------------------------


def set_contact(
    db: Session,
    actor: Actor,
    patient_id: int,
    email: str | None,
    phone: str | None,
    channel: str,
    consent: bool,
) -> dict[str, Any]:
    """The patient's contact for self-report messages and their consent to be contacted
    (recorded with who took it and when); ``channel`` none stops messages.

    Raises:
        InvalidInput (channel without its address; a channel other than none without consent),
        Forbidden, NotFound.
    """
    p = load(db, patient_id)
    can_write(actor, p.site_id)
    ident = db.get(PatientIdentity, p.id)
    assert ident is not None
    if channel not in ("email", "sms", "none"):
        raise InvalidInput("channel", channel, "email, sms or none")
    email = (email or "").strip() or None
    phone = "".join((phone or "").split()) or None
    if email is not None:
        email = _email(email)
    if phone is not None and not re.fullmatch(r"\+[1-9][0-9]{7,14}", phone):
        raise InvalidInput(
            "phone", phone, "a mobile number in international form (E.164), e.g. +447700900123"
        )
    if channel == "email" and email is None:
        raise InvalidInput("email", None, "the address to send to when the channel is email")
    if channel == "sms" and phone is None:
        raise InvalidInput("phone", None, "the number to text when the channel is sms")
    if channel != "none" and not consent:
        raise InvalidInput("consent", consent, "true: the patient agreed to be contacted this way")
    before = contact_view(ident)
    ident.email, ident.phone, ident.contact_channel = email, phone, channel
    if channel != "none":
        ident.contact_consent_at, ident.contact_consent_by = utcnow(), actor.user_id
    else:
        ident.contact_consent_at = ident.contact_consent_by = None
    after = contact_view(ident)
    if after != before:  # messages queued for the old contact or consent are not sent
        outbox.cancel_for_patient(db, p.id, "the patient's contact or consent changed")
    audit.record(
        db, actor, "update", "patient-contact", p.id, patient_id=p.id, before=before, after=after
    )
    return after


def _email(text_: str) -> str:
    """One e-mail address, checked for syntax (no list, no display name, no line breaks),
    normalised; raises InvalidInput."""
    from email_validator import EmailNotValidError, validate_email

    if any(c in text_ for c in ",;<>\r\n\t ") or text_.count("@") != 1:
        raise InvalidInput("email", text_, "one e-mail address, e.g. name@example.org")
    try:
        return validate_email(text_, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput("email", text_, f"one e-mail address ({exc})") from None


def contact_view(ident: PatientIdentity) -> dict[str, Any]:
    return {
        "email": ident.email,
        "phone": ident.phone,
        "channel": ident.contact_channel or "none",
        "consent_at": ident.contact_consent_at.isoformat() if ident.contact_consent_at else None,
    }


def get_contact(db: Session, actor: Actor, patient_id: int) -> dict[str, Any]:
    p = load(db, patient_id)
    can_read_identified(actor, p)
    ident = db.get(PatientIdentity, p.id)
    assert ident is not None
    return contact_view(ident)


def panel(db: Session, actor: Actor, patient_id: int) -> dict[str, Any]:
    """What the patient page shows of self-report: whether the site has it on, the contact,
    the links, the questionnaires that can be sent."""
    p = load(db, patient_id)
    can_read_identified(actor, p)
    return {
        "site_on": bool(site_of(db, p.site_id).self_report),
        "contact": get_contact(db, actor, patient_id),
        "links": list_links(db, actor, patient_id),
        "instruments": list(load_self_report().instruments),
    }


# --- the clinician's lists ----------------------------------------------------------------


def due_list(
    db: Session, actor: Actor, site: str | None = None, days: int = 14, mine: bool = False
) -> dict[str, Any]:
    """Due and missed questionnaires at the caller's site (admins name it) over the last
    ``days`` days: ``{"due": [...], "missed": [...], "response_rate"}``, each row with the
    patient's name and record number (identified). ``mine``: only the caller's patients (links
    they sent, or of courses they planned).

    ``response_rate``: answered / (answered + missed) of links due in the window, None when
    none is closed yet.
    """
    if actor.role == "researcher":
        raise Forbidden("researchers see no identified lists", role=actor.role)
    if actor.role == "clinician":
        site_id = actor.site_id
        if site is not None and db.scalar(select(Site.code).where(Site.id == site_id)) != site:
            raise Forbidden("clinicians see their own site", role=actor.role)
    else:
        if not site:
            raise InvalidInput("site", site, "a site code (admins name the site)")
        site_id = db.scalar(select(Site.id).where(Site.code == site))
        if site_id is None:
            raise InvalidInput("site", site, "an existing site code")
    if not 1 <= days <= 365:
        raise InvalidInput("days", days, "1 to 365")
    now = utcnow()
    q = (
        select(SelfReportLink, PatientIdentity)
        .join(Patient, Patient.id == SelfReportLink.patient_id)
        .join(PatientIdentity, PatientIdentity.patient_id == Patient.id)
        .outerjoin(Course, Course.id == SelfReportLink.course_id)
        .where(
            Patient.site_id == site_id,
            SelfReportLink.due_at <= now,
            SelfReportLink.due_at >= now - timedelta(days=days),
            SelfReportLink.revoked_at.is_(None),
        )
        .order_by(SelfReportLink.due_at)
    )
    if mine:
        q = q.where(
            (SelfReportLink.created_by == actor.user_id) | (Course.created_by == actor.user_id)
        )
    rows = db.execute(q).all()
    out: dict[str, list[dict[str, Any]]] = {"due": [], "missed": []}
    answered = 0
    for link, ident in rows:
        s = state(link, now)
        if s == "answered":
            answered += 1
            continue
        key = "due" if s == "due" else "missed"
        out[key].append(
            {
                **view(link, now),
                "patient": {
                    "id": link.patient_id,
                    "name": f"{ident.family_name}, {ident.given_name}",
                    "mrn": ident.mrn,
                },
            }
        )
    closed = answered + len(out["missed"])
    audit.record(db, actor, "read", "self-report-due", None, detail=f"site {site_id}, {days} d")
    return {
        **out,
        "answered": answered,
        "response_rate": answered / closed if closed else None,
        "days": days,
        "mine": mine,
    }


def response_rates(db: Session, actor: Actor, days: int = 90) -> list[dict[str, Any]]:
    """Per instrument, over links due in the last ``days`` days and closed (answered, or
    expired unanswered): answered, missed and the response rate, for the caller's site
    (clinicians) or every site. Counts only; small cells suppressed for de-identified roles."""
    from . import deid

    now = utcnow()
    q = (
        select(SelfReportLink)
        .join(Patient, Patient.id == SelfReportLink.patient_id)
        .where(
            SelfReportLink.due_at >= now - timedelta(days=days),
            SelfReportLink.revoked_at.is_(None),
        )
    )
    if actor.role == "clinician":
        q = q.where(Patient.site_id == actor.site_id)
    tally: dict[str, dict[str, int]] = {}
    for link in db.scalars(q):
        s = state(link, now)
        if s in ("answered", "expired"):
            t = tally.setdefault(link.instrument, {"answered": 0, "missed": 0})
            t["answered" if s == "answered" else "missed"] += 1
    out = [
        {
            "instrument": name,
            **t,
            "closed": t["answered"] + t["missed"],
            "response_rate": t["answered"] / (t["answered"] + t["missed"]),
        }
        for name, t in sorted(tally.items())
    ]
    if not actor.identified_access:
        out = deid.small_cells(
            out, "closed", {"answered": "response_rate", "missed": "response_rate"}
        )
    return out


def answered_by_patient(db: Session, patient_id: int) -> list[Assessment]:
    """The patient's self-reported assessments, oldest first (for timelines)."""
    return list(
        db.scalars(
            select(Assessment)
            .where(Assessment.patient_id == patient_id, Assessment.source == "patient")
            .order_by(Assessment.administered_at)
        )
    )
