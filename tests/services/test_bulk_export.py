"""The FHIR Bulk Data export service (services/bulk_export.py): the request checked and named,
the de-identified cohort split into NDJSON files of bounded size, ``_since`` by raad's record
times and audit trail, one host per job, a dead job failed rather than left running, and a
cancelled job stopped at its next write."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from raad.cli import app
from raad.services import (
    Forbidden,
    InvalidInput,
    NotFound,
    alerts,
    assessments,
    auth,
    bulk_export,
    courses,
    patients,
    sessions,
)
from raad.services.errors import TooManyRequests
from raad.services.schemas import (
    AssessmentIn,
    BloodPressureIn,
    CourseIn,
    IdentityIn,
    PatientIn,
    PatientUpdate,
    SessionIn,
    SignatureIn,
    TrialIn,
)
from raad.store.models import AuditEvent, BulkExport, BulkExportFile, Patient, User
from tests.dbfixtures import PASSWORD

SHIFT = -100  # set on the patients, so the shifted days are known


def _patient(s, world, family: str, born: date) -> dict:
    p = patients.register(
        s,
        world.clinician,
        PatientIn(
            identity=IdentityIn(
                given_name="Zebedee", family_name=family, mrn=f"MRN-{family}", birth_date=born
            ),
            sex="male",
            facts={"conditions": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
        ),
    )
    s.execute(update(Patient).where(Patient.id == p["id"]).values(date_shift_days=SHIFT))
    patients.add_trial(s, world.clinician, p["id"], TrialIn(atc="N06AB06", weeks=8))
    c = courses.plan(
        s, world.clinician, p["id"], CourseIn(regimen="n2o-50-twice-weekly", start=date(2026, 3, 2))
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
            adverse_events=[{"event": "nausea", "severity": "mild"}],
            notes=f"{family} felt dizzy",
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
    return {**p, "session_id": sess["id"]}


@pytest.fixture(scope="module")
def record(database, world):
    """Two synthetic patients with a trial, a session (with an adverse event and its alert)
    and a rating each; their identifiers are unique to this module."""
    tag = secrets.token_hex(3)
    with database.transaction() as s:
        a = _patient(s, world, f"Quixote{tag}", date(1931, 2, 3))
        b = _patient(s, world, f"Panza{tag}", date(1975, 6, 7))
    return {"a": a, "b": b, "tag": tag}


def _export(database, actor, types=None, since=None) -> str:
    with database.transaction() as s:
        export_id = bulk_export.kick_off(s, actor, "https://x/fhir/$export", types, since)
    assert bulk_export.run(database, export_id) == "completed"
    return export_id


def _lines(database, actor, export_id) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    with database.transaction() as s:
        state = bulk_export.status(s, actor, export_id)
        for kind, seq, text in bulk_export.files(s, actor, export_id):
            assert text.endswith("\n")
            lines = [json.loads(line) for line in text.splitlines()]
            count = next(
                p["count"]
                for p in (*state["output"], *state["errors"])
                if (p["type"], p["seq"]) == (kind, seq)
            )
            assert len(lines) == count <= bulk_export.MAX_RESOURCES_PER_FILE
            out.setdefault(kind, []).extend(lines)
    return out


def _of(lines: dict[str, list[dict]], rid: str) -> list[dict]:
    return [
        r
        for rs in lines.values()
        for r in rs
        if r.get("id") == rid or r["id"].startswith(rid + "-")
    ]


def test_the_request_is_checked_and_every_refusal_names_its_parameter():
    ok = bulk_export.check_parameters(
        [("_type", "Patient"), ("_type", "Observation,Flag"), ("_outputFormat", "ndjson")]
    )
    assert ok == (["Patient", "Observation,Flag"], None)
    assert bulk_export.parse_types(ok[0]) == ("Patient", "Observation", "Flag")
    for items, field in (
        ([("_elements", "id")], "_elements"),
        ([("_typeFilter", "Observation?code=x")], "_typeFilter"),
        ([("patient", "Patient/1")], "patient"),
        ([("includeAssociatedData", "LatestProvenanceResources")], "includeAssociatedData"),
        ([("count", "3")], "count"),
        ([("_since", "2026-01-01T00:00:00Z"), ("_since", "2026-01-02T00:00:00Z")], "_since"),
        ([("_outputFormat", "application/fhir+json")], "_outputFormat"),
    ):
        with pytest.raises(InvalidInput) as e:
            bulk_export.check_parameters(items)
        assert e.value.detail["field"] == field
    for bad in ("Encounter", "Patient,,Flag", ""):
        with pytest.raises(InvalidInput) as e:
            bulk_export.parse_types(bad)
        assert e.value.detail["field"] == "_type"
    for bad in ("2026-01-05", "2026-01-05T10:00:00", "2026-01-05T10:00Z", "2026-02-30T00:00:00Z"):
        with pytest.raises(InvalidInput) as e:
            bulk_export.parse_since(bad)
        assert e.value.detail["field"] == "_since", bad
    with pytest.raises(InvalidInput) as e:
        bulk_export.parse_since("2026-01-05T10:00:00 02:00")  # an unencoded '+' in a URL
    assert "%2B" in e.value.message
    assert bulk_export.parse_since("2026-01-05T10:00:00.5+02:00") == datetime(
        2026, 1, 5, 8, 0, 0, 500000, tzinfo=UTC
    )


def test_only_admins_and_researchers_export(database, world):
    with database.transaction() as s:
        before = s.scalar(select(func.count()).select_from(BulkExport))
    with pytest.raises(Forbidden), database.transaction() as s:
        bulk_export.kick_off(s, world.clinician, "https://x/fhir/$export", None, None)
    with database.transaction() as s:
        assert s.scalar(select(func.count()).select_from(BulkExport)) == before


def test_an_admins_export_is_the_deidentified_cohort_in_bounded_files(
    database, world, record, monkeypatch
):
    monkeypatch.setattr(bulk_export, "MAX_RESOURCES_PER_FILE", 2)
    export_id = _export(database, world.admin)
    with database.transaction() as s:
        state = bulk_export.status(s, world.admin, export_id)
        assert state["status"] == "completed" and state["progress"].endswith(" patients")
        assert state["transaction_time"] <= datetime.now(UTC) - timedelta(
            seconds=bulk_export.COMMIT_MARGIN_S
        )
        kinds = [p["type"] for p in state["output"]]
        assert kinds.count("Observation") >= 2  # more than two Observations: several files
        done = s.scalar(
            select(AuditEvent).where(
                AuditEvent.entity == "fhir-bulk-export",
                AuditEvent.entity_id == export_id,
                AuditEvent.action == "export",
            )
        )
        assert done is not None and done.user_id == world.admin.user_id
    lines = _lines(database, world.admin, export_id)
    assert set(lines) <= set(bulk_export.RESOURCE_TYPES)  # the list _type is checked against
    for kind, resources in lines.items():
        for r in resources:
            assert r["resourceType"] == kind
            get_fhir_model_class(kind).model_validate(r)
    text = json.dumps(lines)
    tag = record["tag"]
    for secret in (f"Quixote{tag}", f"MRN-Quixote{tag}", "1931-02-03", "dizzy", "Zebedee"):
        assert secret not in text, secret
    a = _of(lines, record["a"]["research_id"])
    kinds_a = {r["resourceType"] for r in a}
    assert kinds_a >= {
        "Patient",
        "Condition",
        "MedicationStatement",
        "MedicationAdministration",
        "Observation",
        "AdverseEvent",
        "QuestionnaireResponse",
        "Flag",
        "DetectedIssue",
    }
    mine = json.dumps(a)
    assert "2026-03-02" not in mine and "2026-03-09" not in mine  # the real days
    assert "2025-11-22T10:00:00" in mine and "2025-11-29T09:00:00" in mine  # shifted by -100


def test_type_limits_the_files(database, world, record):
    export_id = _export(database, world.researcher, types=["Patient", "QuestionnaireResponse"])
    lines = _lines(database, world.researcher, export_id)
    assert set(lines) == {"Patient", "QuestionnaireResponse"}
    assert {r["id"] for r in lines["Patient"]} >= {
        record["a"]["research_id"],
        record["b"]["research_id"],
    }


def test_since_keeps_what_changed_and_what_it_references(database, world, record):
    a, b = record["a"], record["b"]
    with database.transaction() as s:  # a second trial for B, before _since
        patients.add_trial(s, world.clinician, b["id"], TrialIn(atc="N06AX16", weeks=6))
    since = datetime.now(UTC)
    with database.transaction() as s:
        alert = next(
            x
            for x in alerts.list_alerts(s, world.clinician, patient_id=a["id"])["items"]
            if x["administration_id"] == a["session_id"] and not x["acknowledged_at"]
        )
        alerts.acknowledge(
            s,
            world.clinician,
            alert["id"],
            "seen",
            SignatureIn(username=world.usernames["clinician"], password=PASSWORD),
        )
    export_id = _export(database, world.researcher, since=since)
    lines = _lines(database, world.researcher, export_id)
    got = _of(lines, a["research_id"])
    # the acknowledged alert, its session (referenced) and the patient; nothing else of A's
    aid = f"{a['research_id']}-alert-{alert['id']}"
    session = f"{a['research_id']}-session-{a['session_id']}"
    assert sorted(r["id"] for r in got) == sorted(
        [a["research_id"], session, f"{aid}-flag", f"{aid}-issue"]
    )
    assert not _of(lines, b["research_id"])  # nothing of B changed
    refs = {f"{r['resourceType']}/{r['id']}" for rs in lines.values() for r in rs}
    for r in got:
        assert set(bulk_export.references(r)) <= refs
    # a trial deleted (the audit trail) and a patient record changed
    since = datetime.now(UTC)
    with database.transaction() as s:
        trial = patients.history(s, world.clinician, b["id"])[0]
        patients.delete_trial(s, world.clinician, b["id"], trial["id"], reason="entered in error")
        p = s.get(Patient, a["id"])
        patients.update(
            s, world.clinician, a["id"], PatientUpdate(facts={"pregnant": False}), p.version
        )
    lines = _lines(database, world.researcher, _export(database, world.researcher, since=since))
    got_a = {r["resourceType"] for r in _of(lines, a["research_id"])}
    assert "Patient" in got_a and "Observation" in got_a  # the facts
    assert not {"MedicationAdministration", "QuestionnaireResponse", "Flag"} & got_a
    # B's trial statements are numbered in order: the one left counts as changed
    got_b = _of(lines, b["research_id"])
    assert sorted(r["id"].removeprefix(b["research_id"]) for r in got_b) == ["", "-trial-1"]
    # nothing changed since now: nothing exported
    later = _export(database, world.researcher, since=datetime.now(UTC) + timedelta(hours=1))
    with database.transaction() as s:
        assert bulk_export.status(s, world.researcher, later)["output"] == []


def test_one_host_claims_a_job(database, world, record):
    with database.transaction() as s:
        export_id = bulk_export.kick_off(s, world.researcher, "https://x/", None, None)
    lease = bulk_export.claim(database, export_id)
    assert lease is not None
    assert bulk_export.claim(database, export_id) is None
    assert bulk_export.run(database, export_id) == "skipped"
    with pytest.raises(TooManyRequests) as e, database.transaction() as s:
        bulk_export.kick_off(s, world.researcher, "https://x/", None, None)
    assert e.value.detail["retry_after"] > 0
    # the claiming process dies: once its lease passes, the job is failed, never left running
    with database.transaction() as s:
        s.execute(
            update(BulkExport)
            .where(BulkExport.id == export_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    with database.transaction() as s:
        state = bulk_export.status(s, world.researcher, export_id)
    assert state["status"] == "failed" and state["error"] == bulk_export.STALE
    assert bulk_export.run(database, export_id) == "skipped"
    _export(database, world.researcher)  # the user may start another


def test_a_job_left_behind_is_run_by_another_host(database, world, record):
    with database.transaction() as s:
        export_id = bulk_export.kick_off(s, world.researcher, "https://x/", None, None)
    with database.transaction() as s:
        state = bulk_export.status(s, world.researcher, export_id)
        assert (state["status"], state["progress"], state["resume"]) == ("accepted", "queued", [])
        s.execute(
            update(BulkExport)
            .where(BulkExport.id == export_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=2))
        )
    with database.transaction() as s:
        assert export_id in bulk_export.status(s, world.researcher, export_id)["resume"]
    assert export_id in bulk_export.resume(database)
    with database.transaction() as s:
        assert bulk_export.status(s, world.researcher, export_id)["status"] == "completed"


def test_cancel_stops_a_running_job_and_leaves_no_file(database, world, record, monkeypatch):
    monkeypatch.setattr(bulk_export, "MAX_RESOURCES_PER_FILE", 1)
    with database.transaction() as s:
        export_id = bulk_export.kick_off(s, world.researcher, "https://x/", None, None)
    built = bulk_export.fhir.everything
    calls = []

    def cancelled_midway(db, actor, patient_id, base_url=None):
        calls.append(patient_id)
        if len(calls) == 2:
            with database.transaction() as s:
                assert s.scalar(
                    select(func.count()).where(BulkExportFile.export_id == export_id)
                )  # files were written before
                bulk_export.cancel(s, world.researcher, export_id)
        return built(db, actor, patient_id, base_url)

    monkeypatch.setattr(bulk_export.fhir, "everything", cancelled_midway)
    assert bulk_export.run(database, export_id) == "stopped"
    assert len(calls) == 2  # stopped at its next write
    with database.transaction() as s:
        assert not s.scalar(select(func.count()).where(BulkExportFile.export_id == export_id))
        assert s.get(BulkExport, export_id).status == "cancelled"
        with pytest.raises(NotFound):
            bulk_export.status(s, world.researcher, export_id)


def test_a_record_that_cannot_be_built_is_listed_and_the_rest_exported(
    database, world, record, monkeypatch
):
    built = bulk_export.fhir.everything

    def one_fails(db, actor, patient_id, base_url=None):
        if patient_id == record["b"]["id"]:
            raise ValueError("Bundle validation failed")
        return built(db, actor, patient_id, base_url)

    monkeypatch.setattr(bulk_export.fhir, "everything", one_fails)
    monkeypatch.setattr(bulk_export, "MAX_LIMIT", 0)  # every session counts as too many
    export_id = _export(database, world.researcher, types=["Patient"])
    with database.transaction() as s:
        state = bulk_export.status(s, world.researcher, export_id)
    assert [p["type"] for p in state["errors"]] == ["OperationOutcome"]
    lines = _lines(database, world.researcher, export_id)
    for o in lines["OperationOutcome"]:
        get_fhir_model_class("OperationOutcome").model_validate(o)
    said = " ".join(o["issue"][0]["diagnostics"] for o in lines["OperationOutcome"])
    assert f"Patient/{record['b']['research_id']}: the record could not be exported" in said
    assert f"Patient/{record['a']['research_id']}: 1 sessions" in said
    exported = {r["id"] for r in lines["Patient"]}
    assert record["a"]["research_id"] in exported and record["b"]["research_id"] not in exported


def test_a_disabled_account_fails_its_export(database, world):
    name = f"leaver.{secrets.token_hex(3)}"
    with database.transaction() as s:
        actor = auth.actor_of(auth.create_user(s, name, PASSWORD, "researcher", None))
        export_id = bulk_export.kick_off(s, actor, "https://x/", None, None)
    with database.transaction() as s:
        s.execute(update(User).where(User.id == actor.user_id).values(active=False))
    assert bulk_export.run(database, export_id) == "failed"
    with database.transaction() as s:
        state = bulk_export.status(s, world.admin, export_id)  # an admin sees every export
        assert state["status"] == "failed" and name in state["error"]
        with pytest.raises(NotFound):
            bulk_export.status(s, world.researcher, export_id)  # another researcher does not
        assert not s.scalar(select(func.count()).where(BulkExportFile.export_id == export_id))


def test_expired_exports_are_purged(database, world, record):
    export_id = _export(database, world.researcher, types=["Patient"])
    with database.transaction() as s:
        s.execute(
            update(BulkExport)
            .where(BulkExport.id == export_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    with database.transaction() as s, pytest.raises(NotFound):
        bulk_export.file(s, world.researcher, export_id, "Patient", 1)
    with database.transaction() as s:
        assert bulk_export.purge(s) >= 1
        assert s.get(BulkExport, export_id) is None
        assert not s.scalar(select(func.count()).where(BulkExportFile.export_id == export_id))


def test_cli_writes_the_ndjson_files(database, world, record, tmp_path):
    r = CliRunner().invoke(app, ["export", "--fhir-ndjson", str(tmp_path), "--url", database.url])
    assert r.exit_code == 2 and "--user" in r.output
    r = CliRunner().invoke(
        app,
        [
            "export",
            "--fhir-ndjson",
            str(tmp_path),
            "--user",
            world.usernames["researcher"],
            "--url",
            database.url,
        ],
    )
    assert r.exit_code == 0, r.output
    patients_file = (tmp_path / "Patient.1.ndjson").read_text()
    assert record["a"]["research_id"] in patients_file
    assert f"Quixote{record['tag']}" not in patients_file
    assert (tmp_path / "QuestionnaireResponse.1.ndjson").exists()
    with database.transaction() as s:  # the files are on disk: the database copy is released
        assert not s.scalar(
            select(func.count())
            .select_from(BulkExport)
            .where(BulkExport.request_url == "raad export --fhir-ndjson")
            .where(BulkExport.status != "cancelled")
        )
    r = CliRunner().invoke(
        app,
        [
            "export",
            "--fhir-ndjson",
            str(tmp_path),
            "--user",
            world.usernames["clinician"],
            "--url",
            database.url,
        ],
    )
    assert r.exit_code == 2 and "may not run a bulk export" in r.output
