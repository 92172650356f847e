"""The shapes of the REST API's answers, for the OpenAPI document (``openapi.py`` puts them on
the routes): each lists the keys a client can rely on and their types, so a client generator or
a schema-driven test (schemathesis' response checks) has something to hold the server to.

They describe what the services return (``raad.services.views`` and friends), in both the
identified and the de-identified (researcher) form: a researcher sees staff names as null and
free text withheld, so those keys are typed loosely. Extra keys are allowed: an answer may grow
without breaking clients.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class BloodPressure(_Open):
    systolic: float
    diastolic: float


class Signature(_Open):
    """An e-signature as shown with its record (21 CFR 11.50): printed name, time, meaning."""

    id: int
    meaning: Literal["discharge", "acknowledgement", "lock", "consent"]
    meaning_label: Literal["review", "approval", "responsibility", "authorship"]
    statement: str
    printed_name: str | None  # None in a researcher's view
    username: str | None
    signed_at: str
    record_sha256: str
    withdrawn_at: str | None
    withdrawn_reason: Any


class CheckedSignature(Signature):
    record_matches: bool


class SignaturesOfRecord(_Open):
    entity: Literal["session", "alert", "course", "consent"]
    entity_id: int
    record_sha256: str
    signatures: list[CheckedSignature]


class Alert(_Open):
    id: int
    administration_id: int | None
    assessment_id: int | None
    code: str
    level: str
    message: str
    facts: Any
    sources: list[Any]
    blocks_discharge: bool
    raised_at: str
    acknowledged_at: str | None
    acknowledged_by: int | None
    acknowledged_by_username: str | None
    acknowledgement_note: Any
    cleared_at: str | None
    signatures: list[Signature] | None = None


class Course(_Open):
    id: int
    regimen: str
    agent: str
    start: str
    status: Literal["active", "completed", "stopped"]
    locked_at: str | None
    locked_by: int | None
    version: int
    knowledge_version: str
    override: dict[str, Any] | None
    plan: dict[str, Any]
    signatures: list[Signature] | None = None


class SessionRow(_Open):
    """A session as listed (no alerts)."""

    id: int
    course_id: int
    agent: str
    route: str
    n2o_fraction: float | None
    dose_mg: float | None
    dose_mg_per_kg: float | None
    start: str
    duration_min: float | None
    bp_pre: BloodPressure | None
    bp_post: BloodPressure | None
    bp_post_min: float | None
    observation_min: float | None
    adverse_events: list[Any]
    unresolved: list[Any]
    cadss_total: float | None
    notes: Any
    discharged_at: str | None
    discharged_by: int | None
    override: Any
    version: int


class Session(SessionRow):
    """One session with its alerts, its discharge signature and when it may be discharged."""

    alerts: list[Alert]
    discharge_blocked: bool
    discharge_not_before: dict[str, Any]
    signatures: list[Signature]
    rems: dict[str, Any] | None


class Assessment(_Open):
    id: int
    instrument: str
    administered_at: str
    administration_id: int | None
    responses: dict[str, Any]
    total: float | None
    severity: str | None
    suicide_flag: bool
    source: Literal["clinician", "patient"] = Field(
        description="who gave the answers: a clinician entered them, or the patient through a "
        "self-report link"
    )


class Identity(_Open):
    given_name: str | None
    family_name: str | None
    mrn: str | None
    birth_date: str | None


class Patient(_Open):
    """A patient; ``id`` and ``identity`` only for roles that see identifiers."""

    research_id: str
    site: str
    sex: str | None
    birth_year: int | None
    facts: Any
    version: int
    id: int | None = None
    identity: Identity | None = None


class Page(_Open):
    items: list[Any]
    total: int
    limit: int
    offset: int


class PatientPage(Page):
    items: list[dict[str, Any]]


class SessionPage(Page):
    items: list[SessionRow]


class AlertPage(Page):
    items: list[Alert]


class AuditEvent(_Open):
    id: int
    at: str
    user_id: int | None
    username: str | None
    action: str
    entity: str
    entity_id: str | None
    patient_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str | None
    reason: str | None
    client: str | None


class AuditPage(Page):
    items: list[AuditEvent]


class User(_Open):
    username: str
    full_name: str | None
    role: Literal["admin", "clinician", "researcher"]
    site: str | None
    active: bool
    locked_until: str | None
    failed_logins: int
    mfa: bool
    created_at: str


class CreatedUser(_Open):
    id: int
    username: str
    full_name: str | None
    role: Literal["admin", "clinician", "researcher"]
    site_id: int | None


class Me(_Open):
    username: str
    role: Literal["admin", "clinician", "researcher"]
    site_id: int | None


class Health(_Open):
    status: Literal["ok", "degraded"]
    database: str
    schema_revision: str | None
    knowledge_version: str
    writable: bool
    disk_free_bytes: int | None
    problems: list[str]


class Summary(_Open):
    patient: dict[str, Any]
    trd: dict[str, Any]
    current_course: dict[str, Any] | None
    scores: list[dict[str, Any]]
    open_alerts: list[Alert]
    disclaimer: str


# (path, method) -> (status code, model): what openapi.py declares
RESPONSES: dict[tuple[str, str], tuple[str, type[BaseModel]]] = {
    ("/health", "get"): ("200", Health),
    ("/auth/me", "get"): ("200", Me),
    ("/users", "post"): ("201", CreatedUser),
    ("/users/{username}", "patch"): ("200", User),
    ("/audit", "get"): ("200", AuditPage),
    ("/patients", "get"): ("200", PatientPage),
    ("/patients", "post"): ("201", Patient),
    ("/patients/{patient_id}", "get"): ("200", Patient),
    ("/patients/{patient_id}", "patch"): ("200", Patient),
    ("/patients/{patient_id}/summary", "get"): ("200", Summary),
    ("/patients/{patient_id}/courses", "post"): ("201", Course),
    ("/courses/{course_id}", "get"): ("200", Course),
    ("/courses/{course_id}", "patch"): ("200", Course),
    ("/courses/{course_id}/lock", "post"): ("200", Course),
    ("/courses/{course_id}/unlock", "post"): ("200", Course),
    ("/signatures", "get"): ("200", SignaturesOfRecord),
    ("/sessions", "post"): ("201", Session),
    ("/sessions", "get"): ("200", SessionPage),
    ("/sessions/{session_id}", "get"): ("200", Session),
    ("/sessions/{session_id}", "patch"): ("200", Session),
    ("/sessions/{session_id}/discharge", "post"): ("200", Session),
    ("/sessions/{session_id}/rems-submitted", "post"): ("200", Session),
    ("/alerts", "get"): ("200", AlertPage),
    ("/alerts/{alert_id}/acknowledge", "post"): ("200", Alert),
}
# answers that are lists of one model
LIST_RESPONSES: dict[tuple[str, str], type[BaseModel]] = {
    ("/users", "get"): User,
    ("/patients/{patient_id}/courses", "get"): Course,
    ("/patients/{patient_id}/assessments", "get"): Assessment,
}
