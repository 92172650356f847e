"""Request bodies (pydantic): the API validates them and the services take them."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictFloat, StrictInt


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IdentityIn(_In):
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    mrn: str = Field(min_length=1, max_length=64, description="Medical record number")
    birth_date: date | None = None


class PatientIn(_In):
    identity: IdentityIn
    sex: Literal["female", "male", "other"] | None = None
    site: str | None = Field(
        default=None, description="Site code; clinicians register at their own site"
    )
    facts: dict[str, Any] = Field(
        default_factory=dict,
        description="Screening facts (raad.clinical.PatientFacts without age, which comes from the birth date)",
    )


class PatientUpdate(_In):
    identity: IdentityIn | None = None
    sex: Literal["female", "male", "other"] | None = None
    facts: dict[str, Any] | None = None
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why the record is changed (kept in the audit trail)",
    )


class TrialIn(_In):
    drug: str | None = Field(default=None, max_length=100)
    atc: str | None = Field(default=None, pattern=r"^N06A[A-Z]\d\d$")
    weeks: float | None = None
    adequate_dose: bool | None = None
    improvement_percent: float | None = None
    outcome: Literal["response", "non-response", "intolerance"] | None = None
    current_episode: bool | None = None


OVERRIDE_HELP = (
    "Why the agent is given although the patient's screening (computed now from the current "
    "facts) says it is contraindicated; required then, refused otherwise"
)


class CourseIn(_In):
    regimen: str
    start: date
    weight_kg: float | None = None
    maintenance_sessions: int | None = Field(default=None, ge=1, le=200)
    override_reason: str | None = Field(default=None, max_length=2000, description=OVERRIDE_HELP)


class BloodPressureIn(_In):
    systolic: float
    diastolic: float


# the adverse events the session form offers (free text is accepted too; researchers see only
# these and the terms of knowledge/adverse_events.yaml, anything else is withheld)
ADVERSE_EVENT_TERMS = (
    "nausea",
    "vomiting",
    "headache",
    "dizziness",
    "anxiety",
    "dissociation",
    "sedation",
)


class AdverseEventIn(_In):
    event: str = Field(min_length=1, max_length=100)
    severity: Literal["mild", "moderate", "severe"]


class VitalsIn(_In):
    """One timed set of vital signs; any of the measurements, not none."""

    time: AwareDatetime = Field(description="When it was taken (with its UTC offset)")
    systolic: float | None = Field(default=None, description="mmHg")
    diastolic: float | None = Field(default=None, description="mmHg")
    heart_rate: float | None = Field(default=None, description="beats per minute")
    spo2: float | None = Field(default=None, description="oxygen saturation, %")
    moaas: StrictInt | None = Field(
        default=None, description="sedation on the MOAA/S, 0 (no response to pain) to 5 (alert)"
    )


REMS_FIELDS_HELP = "the REMS-grade record (esketamine; kept for every agent)"


class SessionRecordIn(_In):
    """The fields of the REMS-grade session record (``POST /sessions``, ``PATCH``)."""

    vitals: list[VitalsIn] | None = Field(
        default=None, max_length=50, description="timed vital signs (" + REMS_FIELDS_HELP + ")"
    )
    lot_numbers: list[str] | None = Field(
        default=None, max_length=10, description="the lot number(s) of what was given"
    )
    concomitant: dict[str, bool] | None = Field(
        default=None,
        description="concomitant medicines that may cause sedation or blood-pressure changes, "
        "yes/no by key (knowledge/rems.yaml: benzodiazepines, "
        "non_benzodiazepine_sedative_hypnotics, psychostimulants, maois, opioids)",
    )
    checklist: dict[str, bool] | None = Field(
        default=None, description="the pre-session checklist of the course's plan, done or not"
    )
    observed_by: str | None = Field(
        default=None, max_length=100, description="who monitored the patient (printed name)"
    )
    ready_to_leave_at: AwareDatetime | None = Field(
        default=None, description="when the patient was assessed ready to leave"
    )


class SessionIn(SessionRecordIn):
    course_id: int
    start: AwareDatetime
    route: (
        Literal["inhalation", "intravenous", "intranasal", "oral", "intramuscular", "subcutaneous"]
        | None
    ) = Field(default=None, description="Defaults to the agent's route (knowledge/agents.yaml)")
    duration_min: float | None = None
    n2o_fraction: float | None = None
    dose_mg: float | None = None
    dose_mg_per_kg: float | None = None
    bp_pre: BloodPressureIn | None = None
    bp_post: BloodPressureIn | None = None
    bp_post_min: float | None = Field(
        default=None, description="When the post-dose reading was taken, in minutes after dosing"
    )
    observation_min: float | None = None
    adverse_events: list[AdverseEventIn] = Field(default_factory=list, max_length=50)
    unresolved: list[str] = Field(default_factory=list, max_length=20)
    cadss_total: float | None = None
    notes: str | None = Field(default=None, max_length=4000)
    override_reason: str | None = Field(default=None, max_length=2000, description=OVERRIDE_HELP)


class SessionUpdate(SessionRecordIn):
    duration_min: float | None = None
    bp_post: BloodPressureIn | None = None
    bp_post_min: float | None = None
    observation_min: float | None = None
    adverse_events: list[AdverseEventIn] | None = Field(default=None, max_length=50)
    unresolved: list[str] | None = Field(default=None, max_length=20)
    cadss_total: float | None = None
    notes: str | None = Field(default=None, max_length=4000)
    reason: str | None = Field(
        default=None,
        max_length=500,
        description=(
            "Why the record is changed (kept in the audit trail); required when a recorded "
            "value is changed or removed, not when one is added"
        ),
    )


class AssessmentIn(_In):
    instrument: str
    # The library's rule (raad.scales.scoring.rating_value): integers, or floats holding a
    # whole number; null = not answered. Strings and true/false are refused, never coerced.
    responses: dict[str, StrictInt | StrictFloat | None] = Field(
        description="item key (see the instrument's response_keys) -> rating; null = not answered"
    )
    administered_at: AwareDatetime
    administration_id: int | None = None
    allow_incomplete: bool = False


class SignatureIn(_In):
    """An electronic signature's components (21 CFR 11.200(a)): the signer's own username and
    password again, and the two-factor code when two-factor is on."""

    username: str = Field(max_length=64, description="Your own username")
    password: str = Field(max_length=256, description="Your password")
    otp: str | None = Field(
        default=None, max_length=16, description="The 6-digit two-factor code, if enrolled"
    )


class AcknowledgeIn(_In):
    note: str | None = Field(
        default=None,
        max_length=2000,
        description="What was done; required to acknowledge a discharge-blocking alert",
    )
    signature: SignatureIn | None = Field(
        default=None, description="Required: acknowledging an alert is signed (meaning: review)"
    )


class DischargeIn(_In):
    signature: SignatureIn | None = Field(
        default=None, description="Required: a discharge is signed (meaning: responsibility)"
    )


class LockIn(_In):
    signature: SignatureIn | None = Field(
        default=None, description="Required: locking a course is signed (meaning: approval)"
    )


class UnlockIn(_In):
    reason: str = Field(
        min_length=1, max_length=2000, description="Why the locked course must change"
    )


class UserIn(_In):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    role: Literal["admin", "clinician", "researcher"]
    site: str | None = Field(default=None, max_length=32)
    full_name: str | None = Field(
        default=None, max_length=200, description="The printed name on the user's e-signatures"
    )


class UserUpdate(_In):
    """What an admin changes on an account; a new role, site or password, or disabling, ends
    the user's sessions."""

    active: bool | None = None
    role: Literal["admin", "clinician", "researcher"] | None = None
    site: str | None = Field(default=None, max_length=32)
    unlock: bool = False
    password: str | None = Field(default=None, max_length=256)
    full_name: str | None = Field(
        default=None, max_length=200, description="The printed name on the user's e-signatures"
    )


class MfaCodeIn(_In):
    code: str = Field(max_length=16, description="The 6-digit code the authenticator shows")


class PasswordChangeIn(_In):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)
