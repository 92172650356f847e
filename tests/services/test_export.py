"""The research export holds no identifier, and only admins and researchers may run it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from raad.cli import app
from raad.services import Forbidden, assessments, courses, export, patients, sessions
from raad.services.schemas import (
    AssessmentIn,
    BloodPressureIn,
    CourseIn,
    IdentityIn,
    PatientIn,
    SessionIn,
)


@pytest.fixture(scope="module")
def seeded(database, world):
    with database.transaction() as s:
        p = patients.register(
            s,
            world.clinician,
            PatientIn(
                identity=IdentityIn(
                    given_name="Zebedee",
                    family_name="Quixote",
                    mrn="MRN-778899",
                    birth_date=date(1931, 2, 3),
                ),
                sex="male",
            ),
        )
        c = courses.plan(
            s,
            world.clinician,
            p["id"],
            CourseIn(regimen="n2o-50-twice-weekly", start=date(2026, 3, 2)),
        )
        sess = sessions.record(
            s,
            world.clinician,
            SessionIn(
                course_id=c["id"],
                start=datetime(2026, 3, 2, 10, tzinfo=UTC),
                duration_min=60,
                n2o_fraction=0.5,
                bp_pre=BloodPressureIn(systolic=120, diastolic=80),
                observation_min=30,
                notes="Zebedee felt dizzy",
            ),
        )
        assessments.record(
            s,
            world.clinician,
            p["id"],
            AssessmentIn(
                instrument="PHQ-9",
                responses={str(i): 2 for i in range(1, 10)},
                administered_at=datetime(2026, 3, 9, 9, tzinfo=UTC),
                administration_id=sess["id"],
            ),
        )
    return p


def test_export_has_no_identifiers(database, world, seeded):
    with database.transaction() as s:
        tables = export.cohort(s, world.researcher)
    text = json.dumps(tables, default=str)
    for secret in ("Zebedee", "Quixote", "MRN-778899", "1931", "2026-03", "dizzy"):
        assert secret not in text, secret
    mine = [r for r in tables["assessments"] if r["research_id"] == seeded["research_id"]]
    assert mine == [mine[0]] and mine[0]["day"] == 7 and mine[0]["session_day"] == 0
    assert mine[0]["age_years"] == "90+"  # born 1931: top-coded
    assert mine[0]["item_9"] == 2 and mine[0]["total"] == 18
    (sess,) = [r for r in tables["sessions"] if r["research_id"] == seeded["research_id"]]
    assert sess["day"] == 0 and sess["regimen"] == "n2o-50-twice-weekly"


def test_only_admins_and_researchers_export(database, world, seeded):
    with pytest.raises(Forbidden), database.transaction() as s:
        export.cohort(s, world.clinician)


def test_cli_export_writes_csv_and_dictionary(database, seeded, tmp_path):
    r = CliRunner().invoke(app, ["export", "--out", str(tmp_path), "--url", database.url])
    assert r.exit_code == 0, r.output
    a = (tmp_path / "assessments.csv").read_text()
    assert seeded["research_id"] in a and "Quixote" not in a
    assert "research_id" in (tmp_path / "data_dictionary.csv").read_text()
