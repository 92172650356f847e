"""Demo data: a clearly synthetic clinic for trying raad (``raad serve --demo``).

Every name is 'Synthetic', every record number starts with 'DEMO-'. The demo users get random
passwords printed once when they are created; no password ships with raad.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.knowledge.treatment import regimens
from raad.store.models import Patient, Site, User

from . import assessments, courses, mfa, patients, screenings, sessions
from .auth import actor_of, create_user, get_or_create_site, mfa_admin
from .schemas import (
    AssessmentIn,
    BloodPressureIn,
    CourseIn,
    IdentityIn,
    PatientIn,
    SessionIn,
    TrialIn,
)

DEMO_REGIMEN = "n2o-50-twice-weekly"  # an id in knowledge/regimens.yaml

DEMO_SITE = "DEMO"

# (given, family, sex, birth date, facts, history)
_PATIENTS = [
    (
        "Alex",
        "Synthetic-01",
        "female",
        date(1981, 3, 14),
        {
            "pregnant": False,
            "breastfeeding": False,
            "allergies": [],
            "b12_status": "normal",
            "opioid_use": False,
            "systolic_mmhg": 128,
            "diastolic_mmhg": 82,
            "conditions": [
                {
                    "text": "recurrent major depressive disorder",
                    "system": "ICD-10-CM",
                    "code": "F33.2",
                }
            ],
            "medications": ["sertraline"],
        },
        [
            ("sertraline", "N06AB06", 8, True, "non-response"),
            ("venlafaxine", None, 10, True, "non-response"),
        ],
    ),
    (
        "Sam",
        "Synthetic-02",
        "male",
        date(1975, 11, 2),
        {
            "allergies": ["penicillin"],
            "b12_status": "normal",
            "opioid_use": False,
            "systolic_mmhg": 150,
            "diastolic_mmhg": 85,
            "conditions": ["Eustachian tube obstruction"],
            "medications": ["naltrexone"],
        },
        [("escitalopram", "N06AB10", 6, True, "non-response")],
    ),
    (
        "Robin",
        "Synthetic-03",
        "other",
        date(1992, 6, 30),
        {"opioid_use": False, "conditions": [], "medications": []},
        [],
    ),
]


def _password() -> str:
    return secrets.token_urlsafe(12)


def seed(db: Session, now: datetime | None = None) -> dict[str, str]:
    """Create the demo site, users and patients once; returns new users' passwords."""
    now = now or datetime.now(UTC)
    if db.scalar(select(Site).where(Site.code == DEMO_SITE)) is not None:
        return {}
    get_or_create_site(db, DEMO_SITE, "Demo clinic (synthetic patients)")
    passwords = {}
    for username, role, site, name in (
        ("demo.admin", "admin", None, "Demo Admin"),
        ("demo.clinician", "clinician", DEMO_SITE, "Demo Clinician"),
        ("demo.researcher", "researcher", None, "Demo Researcher"),
    ):
        if db.scalar(select(User).where(User.username == username)) is None:
            passwords[username] = _password()
            create_user(db, username, passwords[username], role, site, full_name=name)
            if mfa.required(db.scalar(select(User).where(User.username == username))):
                key = mfa_admin(db, None, username, enrol=True)["secret"]
                passwords[username] += f"  (two-factor: add the key {key} to an authenticator app)"
    clinician = actor_of(db.scalar(select(User).where(User.username == "demo.clinician")))
    for i, (given, family, sex, born, facts, history) in enumerate(_PATIENTS, start=1):
        view = patients.register(
            db,
            clinician,
            PatientIn(
                identity=IdentityIn(
                    given_name=given, family_name=family, mrn=f"DEMO-{i:04d}", birth_date=born
                ),
                sex=sex,
                facts=facts,
            ),
        )
        pid = view["id"]
        for drug, atc, weeks, adequate, outcome in history:
            patients.add_trial(
                db,
                clinician,
                pid,
                TrialIn(
                    drug=drug,
                    atc=atc,
                    weeks=weeks,
                    adequate_dose=adequate,
                    outcome=outcome,
                    current_episode=True,
                ),
            )
        screenings.screen_patient(db, clinician, pid)
    first = db.scalar(select(Patient).order_by(Patient.id).limit(1))
    start = (now - timedelta(days=14)).date()
    course = courses.plan(db, clinician, first.id, CourseIn(regimen=DEMO_REGIMEN, start=start))
    regimen = regimens()[DEMO_REGIMEN]  # the sessions follow the cited regimen
    madrs = [34, 27, 21, 15]
    for n, planned in enumerate(course["plan"]["sessions"][:4]):
        at = datetime.combine(
            date.fromisoformat(planned["date"]), datetime.min.time(), UTC
        ) + timedelta(hours=10)
        s = sessions.record(
            db,
            clinician,
            SessionIn(
                course_id=course["id"],
                start=at,
                duration_min=regimen.duration_min,
                n2o_fraction=regimen.n2o_fraction,
                bp_pre=BloodPressureIn(systolic=124 + n, diastolic=80),
                bp_post=BloodPressureIn(systolic=126 + n, diastolic=81),
                observation_min=30,
            ),
        )
        assessments.record(
            db,
            clinician,
            first.id,
            AssessmentIn(
                instrument="MADRS",
                responses=_spread(madrs[n], 10, 6),
                administered_at=at - timedelta(minutes=30),
                administration_id=s["id"],
            ),
        )
    return passwords


def _spread(total: int, n: int, top: int) -> dict[str, int]:
    """Item values summing to ``total`` (synthetic ratings); suicide item kept at 0."""
    values = [0] * n
    i = 0
    left = total
    while left > 0:
        if i % n != n - 1 and values[i % n] < top:
            values[i % n] += 1
            left -= 1
        i += 1
    return {str(k + 1): v for k, v in enumerate(values)}
