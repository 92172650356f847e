"""The registry's tables (SQLAlchemy 2 declarative models).

Identifiers (name, record number, date of birth) live only in ``patient_identities``, apart from
the pseudonymous ``patients.research_id`` that researchers see. Every clinical write records the
user who made it; ``audit_events`` is append-only (database triggers refuse UPDATE and DELETE,
see the migration).
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: raad stores aware UTC datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # IANA time zone (e.g. Europe/London): times are shown and typed in it; None = UTC
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # patients' self-report from home: opted in; the crisis resources a patient is shown after
    # a positive suicide item; whether anyone reads responses as they arrive
    self_report: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    crisis_text: Mapped[str | None] = mapped_column(Text)
    monitored_in_real_time: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    # two-factor (TOTP, RFC 6238): the shared secret (base32), whether it is in use, and the
    # last time step accepted (a code is never accepted twice)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # the printed name an electronic signature carries (21 CFR 11.50(a)(1)); the username if none
    full_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    site: Mapped[Site | None] = relationship()


class AuthToken(Base):
    """A bearer token or a browser session; only the SHA-256 of the secret is stored."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "bearer" | "cookie"
    csrf_hash: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # when the token was last used (kept to within a few minutes): the idle timeout's clock
    last_seen_at: Mapped[datetime | None] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    research_id: Mapped[str] = mapped_column(String(16), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    sex: Mapped[str | None] = mapped_column(String(8))
    birth_year: Mapped[int | None]
    # days added to every date a researcher sees (1-365 back, random per patient, never shown)
    date_shift_days: Mapped[int | None] = mapped_column(
        Integer, default=lambda: -(secrets.randbelow(365) + 1)
    )
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # PatientFacts minus identity
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__: ClassVar = {"version_id_col": version}  # UPDATE ... WHERE version = seen
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))

    site: Mapped[Site] = relationship()
    identity: Mapped[PatientIdentity] = relationship(back_populates="patient", uselist=False)
    history: Mapped[list[AntidepressantTrial]] = relationship(
        back_populates="patient", order_by="AntidepressantTrial.id"
    )


class PatientIdentity(Base):
    __tablename__ = "patient_identities"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    mrn: Mapped[str] = mapped_column(String(64))
    birth_date: Mapped[date | None] = mapped_column(Date)
    # the patient's site (equal to patients.site_id): a record number is unique within a site
    site_id: Mapped[int | None] = mapped_column(Integer)
    # contact for self-report messages, and the patient's consent to be contacted
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    contact_channel: Mapped[str | None] = mapped_column(String(8))  # email | sms | none
    contact_consent_at: Mapped[datetime | None]
    contact_consent_by: Mapped[int | None] = mapped_column(Integer)

    patient: Mapped[Patient] = relationship(back_populates="identity")

    __table_args__ = (
        Index("ix_identity_mrn", "mrn"),
        Index("uq_identity_site_mrn", "site_id", "mrn", unique=True),
    )


class AntidepressantTrial(Base):
    __tablename__ = "antidepressant_trials"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    drug: Mapped[str | None] = mapped_column(String(100))
    atc: Mapped[str | None] = mapped_column(String(16))
    weeks: Mapped[float | None] = mapped_column(Float)
    adequate_dose: Mapped[bool | None]
    improvement_percent: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(16))
    current_episode: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))

    patient: Mapped[Patient] = relationship(back_populates="history")


class Screening(Base):
    __tablename__ = "screenings"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    knowledge_version: Mapped[str] = mapped_column(String(32))
    facts: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    regimen: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date] = mapped_column(Date)
    plan: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="active")
    knowledge_version: Mapped[str] = mapped_column(String(32))
    # planned although screening said the agent was contraindicated: why, and what was overridden
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # signed and locked (services/signatures.py): no change until an admin unlocks it
    locked_at: Mapped[datetime | None]
    locked_by: Mapped[int | None] = mapped_column(Integer)  # user id (see migration 0008)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__: ClassVar = {"version_id_col": version}  # UPDATE ... WHERE version = seen
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Administration(Base):
    """One treatment session: dose, timing, vitals, adverse events, observation, discharge."""

    __tablename__ = "administrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    agent: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(16))
    n2o_fraction: Mapped[float | None] = mapped_column(Float)
    dose_mg: Mapped[float | None] = mapped_column(Float)
    dose_mg_per_kg: Mapped[float | None] = mapped_column(Float)
    start: Mapped[datetime]
    duration_min: Mapped[float | None] = mapped_column(Float)
    bp_pre_systolic: Mapped[float | None] = mapped_column(Float)
    bp_pre_diastolic: Mapped[float | None] = mapped_column(Float)
    bp_post_systolic: Mapped[float | None] = mapped_column(Float)
    bp_post_diastolic: Mapped[float | None] = mapped_column(Float)
    bp_post_min: Mapped[float | None] = mapped_column(Float)  # reading taken, min after dosing
    observation_min: Mapped[float | None] = mapped_column(Float)
    adverse_events: Mapped[list[Any]] = mapped_column(default=list)  # [{event, severity}]
    unresolved: Mapped[list[Any]] = mapped_column(default=list)
    cadss_total: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)
    # the REMS-grade record (migration 0010): [{time, systolic, diastolic, heart_rate, spo2,
    # moaas}], lot numbers, {medicine key: bool} (knowledge/rems.yaml), {check key: bool}
    vitals: Mapped[list[Any] | None] = mapped_column(JSON)
    lot_numbers: Mapped[list[Any] | None] = mapped_column(JSON)
    concomitant: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    checklist: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    observed_by: Mapped[str | None] = mapped_column(String(100))  # who monitored (printed)
    ready_to_leave_at: Mapped[datetime | None]
    rems_submitted_at: Mapped[datetime | None]
    rems_submitted_by: Mapped[int | None] = mapped_column(Integer)  # user id
    discharged_at: Mapped[datetime | None]
    discharged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # given although screening said the agent was contraindicated: why, and what was overridden
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__: ClassVar = {"version_id_col": version}  # UPDATE ... WHERE version = seen
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Assessment(Base):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    administration_id: Mapped[int | None] = mapped_column(ForeignKey("administrations.id"))
    instrument: Mapped[str] = mapped_column(String(16))
    responses: Mapped[dict[str, Any]]
    total: Mapped[float | None] = mapped_column(Float)
    severity: Mapped[str | None] = mapped_column(String(32))
    suicide_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    administered_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # who entered it; for a rating the patient gave through a link (source "patient"), the
    # clinician who sent the link or set up the schedule
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(16), default="clinician", server_default="clinician")
    link_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_assessment_patient_time", "patient_id", "administered_at"),)


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    administration_id: Mapped[int | None] = mapped_column(ForeignKey("administrations.id"))
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"))
    code: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    facts: Mapped[dict[str, Any]]
    sources: Mapped[list[Any]]
    blocks_discharge: Mapped[bool] = mapped_column(Boolean, default=False)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledgement_note: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None]  # no longer raised after the session was corrected


class AuditEvent(Base):
    """Who did what, when, to which record, with the record before and after (append-only)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # create | update | delete | read | login...
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(Text)
    client: Mapped[str | None] = mapped_column(String(64))  # the caller's address, if known
    reason: Mapped[str | None] = mapped_column(Text)  # why a record was changed, as given
    # hash chain (services/audit.py): the SHA-256 of this row's own fields (rows since revision
    # 0018), the previous row's hash and this row's link (on PostgreSQL made at commit)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))


class IdempotentRequest(Base):
    """The first response to a POST carrying an ``Idempotency-Key``, replayed on a retry."""

    __tablename__ = "idempotent_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(128))
    route: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)


class Signature(Base):
    """An electronic signature on a record (21 CFR 11.50, 11.70): who (printed name), when, what
    it means, and the SHA-256 of the record as signed, so that a later change shows. Withdrawn,
    never deleted, when an admin unlocks what it locked."""

    __tablename__ = "signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))  # session | alert | course
    entity_id: Mapped[int] = mapped_column(Integer)
    meaning: Mapped[str] = mapped_column(String(32))  # knowledge/esignature.yaml
    statement: Mapped[str] = mapped_column(Text)  # the words the signer signed
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(64))
    printed_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime]
    record_sha256: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_signature_record", "entity", "entity_id"),)


class ConsentDocument(Base):
    """A consent document of a site for one agent; a new text is a new version, never an
    edit (the signed consents point at the version they were signed on)."""

    __tablename__ = "consent_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    agent: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        UniqueConstraint("site_id", "agent", "version", name="uq_consent_document_version"),
    )


class Consent(Base):
    """A patient's consent, signed in raad by the clinician who obtained it (an e-signature
    with its meaning), with the PDF as signed kept and its SHA-256; withdrawn, never deleted."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    document_id: Mapped[int] = mapped_column(ForeignKey("consent_documents.id"))
    patient_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime]
    signed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_consent_patient", "patient_id"),)


class SelfReportSchedule(Base):
    """When a course's patient is asked to report from home: relative to each session
    (``offsets_hours`` after its start) or daily at a local time for ``days`` days."""

    __tablename__ = "self_report_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    instrument: Mapped[str] = mapped_column(String(16))
    anchor: Mapped[str] = mapped_column(String(8))  # session | daily
    offsets_hours: Mapped[list[float] | None] = mapped_column(JSON)
    local_time: Mapped[str | None] = mapped_column(String(5))
    days: Mapped[int | None] = mapped_column(Integer)
    valid_hours: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    origin: Mapped[str] = mapped_column(String(64))  # the knowledge default's id, or "clinician"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (Index("ix_srs_course", "course_id"),)


class SelfReportLink(Base):
    """One questionnaire a patient is asked to fill from home: single use, expiring,
    revocable. Its tokens (one per message sent) are kept only as SHA-256."""

    __tablename__ = "self_report_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"))
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("self_report_schedules.id"))
    slot: Mapped[str | None] = mapped_column(String(64))  # which of the schedule's times
    instrument: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[datetime | None]
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # answers so far, not yet sent

    __table_args__ = (
        Index("ix_srl_patient", "patient_id"),
        Index("ix_srl_due", "due_at"),
        UniqueConstraint("schedule_id", "slot", name="uq_srl_schedule_slot"),
    )


class SelfReportToken(Base):
    __tablename__ = "self_report_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("self_report_links.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A message to deliver (e-mail or SMS), written in the transaction that makes it due, so
    nothing is lost if the process dies; the sender claims, sends and marks it. The body holds
    a live link and is cleared once sent."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_key: Mapped[str] = mapped_column(String(64), unique=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("self_report_links.id"))
    kind: Mapped[str] = mapped_column(String(16))  # invitation | reminder
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    # pending | sending | sent | failed | unknown (sent or not: a crash mid-send) | cancelled
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    provider_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)


class EvidenceUpdate(Base):
    """One version of the trial base as the app first saw it: its pooled answers and what
    moved since the version before (raad.evidence.living); clinicians whose courses use an
    agent it touches are told."""

    __tablename__ = "evidence_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_base_version: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    agents: Mapped[list[str]] = mapped_column(JSON)  # the agents the changes touch


class CdsTrustedIssuer(Base):
    """An EHR whose CDS Hooks calls raad accepts with a signed JWT (CDS Hooks 2.0 client
    authentication): its issuer, where its public keys are (JWKS), and the raad account (a
    service account of one site) its calls act as."""

    __tablename__ = "cds_trusted_issuers"

    id: Mapped[int] = mapped_column(primary_key=True)
    iss: Mapped[str] = mapped_column(String(512), unique=True)
    jwks_url: Mapped[str] = mapped_column(String(1024))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CdsJwtSeen(Base):
    """A JWT id already used by an issuer, kept until the token expires (replay refused)."""

    __tablename__ = "cds_jwt_seen"

    id: Mapped[int] = mapped_column(primary_key=True)
    iss: Mapped[str] = mapped_column(String(512))
    jti: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime] = mapped_column()

    __table_args__ = (UniqueConstraint("iss", "jti", name="uq_cds_jwt_seen"),)


class CdsFeedback(Base):
    """What a clinician did with a CDS Hooks card (CDS Hooks 2.0 feedback): accepted or
    overridden, with the override reason and comment the EHR sent."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    card: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | overridden
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_display: Mapped[str | None] = mapped_column(String(256))
    comment: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))


class SmartClient(Base):
    """raad registered as a SMART App Launch confidential client at an EHR: the EHR's FHIR
    base URL (``iss``), the client id and secret the EHR issued, and the site whose patients
    launches from that EHR belong to."""

    __tablename__ = "smart_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    iss: Mapped[str] = mapped_column(String(512), unique=True)
    client_id: Mapped[str] = mapped_column(String(256))
    client_secret: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SmartUserLink(Base):
    """An EHR user (the id token's ``fhirUser``, e.g. ``Practitioner/123``) linked to the raad
    account a launch by that user acts as."""

    __tablename__ = "smart_user_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    iss: Mapped[str] = mapped_column(String(512))
    fhir_user: Mapped[str] = mapped_column(String(512))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("iss", "fhir_user", name="uq_smart_user_link"),)


class SmartLaunch(Base):
    """A launch between the redirect to the EHR's authorize endpoint and the callback: the
    SHA-256 of its ``state``, the PKCE code verifier and the OpenID Connect nonce. Used once."""

    __tablename__ = "smart_launches"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    iss: Mapped[str] = mapped_column(String(512))
    code_verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(128))
    token_endpoint: Mapped[str] = mapped_column(String(1024))
    redirect_uri: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class SmartContext(Base):
    """What a finished launch gave a raad browser session: the EHR's patient, encounter and
    user, the raad patient matched or imported, and the EHR's tokens (kept here, never sent
    to the browser)."""

    __tablename__ = "smart_contexts"

    id: Mapped[int] = mapped_column(primary_key=True)
    auth_token_id: Mapped[int] = mapped_column(ForeignKey("auth_tokens.id"), unique=True)
    iss: Mapped[str] = mapped_column(String(512))
    fhir_user: Mapped[str | None] = mapped_column(String(512))
    ehr_patient: Mapped[str | None] = mapped_column(String(256))
    ehr_encounter: Mapped[str | None] = mapped_column(String(256))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    scope: Mapped[str] = mapped_column(Text)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BulkExport(Base):
    """A FHIR Bulk Data ``$export`` request (async pattern): who asked, what for, its state
    (accepted, running, completed, failed, cancelled), and when the files expire."""

    __tablename__ = "bulk_exports"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    request_url: Mapped[str] = mapped_column(Text)
    types: Mapped[str | None] = mapped_column(Text)  # comma-separated _type, None: all
    since: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()


class BulkExportFile(Base):
    """One NDJSON output file of a bulk export (one resource type, up to a set number of
    resources), kept in the database so any application host can serve it."""

    __tablename__ = "bulk_export_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    export_id: Mapped[str] = mapped_column(ForeignKey("bulk_exports.id", ondelete="CASCADE"))
    resource_type: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    ndjson: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("export_id", "resource_type", "seq", name="uq_bulk_export_file"),
    )


class RateEvent(Base):
    """One counted event for a rate limit (a login attempt, a self-report link that did not
    open) by client address; kept in the database so every worker and host counts together.
    Rows older than the limit's window are removed as new ones are counted."""

    __tablename__ = "rate_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_rate_events_kind_client_at", "kind", "client", "at"),)
