"""FHIR Bulk Data export through the API (Bulk Data Access IG 2.0.0, "Export"): kick-off 202
with Content-Location, status 202 then 200 with the manifest, NDJSON files that validate, whose
references resolve inside the export and which hold no identifier and no real date; the
refusals (role, headers, parameters, another user's export, no token) as OperationOutcomes."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import func, select, update

from raad.services import auth, bulk_export
from raad.store.models import BulkExport, Patient, User
from tests.api.helpers import madrs_items, new_course, post_rating, session_body
from tests.dbfixtures import PASSWORD
from tests.interop.us_core_check import check

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
PLANT = "Jane Planted, 42 Wallaby Way, 555-0142"
REAL_DAYS = ("2026-01-05", "2026-01-04", "1931-02-03")
SHIFT = -100  # 2026-01-05 -> 2025-09-27


@pytest.fixture(scope="module")
def planted(api, database):
    """A patient with identifiers and free text typed everywhere, a session with an adverse
    event outside raad's vocabulary, a rating, and a known date shift."""
    tag = secrets.token_hex(3)
    identity = {
        "given_name": "Jane",
        "family_name": f"Planted{tag}",
        "mrn": f"MRN-{tag}",
        "birth_date": "1931-02-03",
    }
    body = {
        "identity": identity,
        "sex": "female",
        "facts": {"conditions": [{"text": PLANT}], "pregnant": False},
    }
    r = api.client.post("/patients", json=body, headers=api.h("clinician"))
    assert r.status_code == 201, r.text
    pid, rid = r.json()["id"], r.json()["research_id"]
    with database.transaction() as s:
        s.execute(update(Patient).where(Patient.id == pid).values(date_shift_days=SHIFT))
    r = api.client.post(
        f"/patients/{pid}/history",
        json={"drug": PLANT[:100], "atc": "N06AB06", "weeks": 8},
        headers=api.h("clinician"),
    )
    assert r.status_code == 201, r.text
    c = new_course(api, pid, regimen="n2o-50-twice-weekly", start="2026-01-05")
    body = session_body(c["id"], notes=PLANT, adverse_events=[{"event": PLANT, "severity": "mild"}])
    r = api.client.post("/sessions", json=body, headers=api.h("clinician"))
    assert r.status_code == 201, r.text
    post_rating(api, pid, "MADRS", madrs_items(30), "2026-01-04T09:00:00+00:00")
    return {"id": pid, "research_id": rid, **identity}


@pytest.fixture(scope="module")
def other_researcher(api, database):
    name = f"researcher2.{secrets.token_hex(3)}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "researcher", None)
    r = api.client.post("/auth/token", data={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _kick_off(api, role="researcher", path="/fhir/$export", **params):
    return api.client.get(path, params=params, headers=api.h(role, **ASYNC))


def _poll(api, location, role="researcher"):
    for _ in range(50):
        r = api.client.get(location, headers=api.h(role))
        if r.status_code != 202:
            return r
        assert r.headers["x-progress"] and int(r.headers["retry-after"]) > 0
    raise AssertionError("the export never finished")


def _outcome(r, status, field=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    if field is not None:
        assert body["issue"][0]["expression"] == [field]
        assert field in body["issue"][0]["diagnostics"]
    return body


def _references(obj):
    return set(bulk_export.references(obj))


def test_the_whole_async_flow(api, planted, other_researcher):
    r = _kick_off(api)
    assert r.status_code == 202, r.text
    location = r.headers["content-location"]
    assert re.fullmatch(r"http://testserver/fhir/bulkstatus/[0-9a-f]{32}", location)
    assert r.json()["resourceType"] == "OperationOutcome"
    done = _poll(api, location)
    assert done.status_code == 200 and done.headers["content-type"] == "application/json"
    assert done.headers["expires"].endswith(" GMT")
    manifest = done.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"] == "http://testserver/fhir/$export"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", manifest["transactionTime"])
    assert manifest["error"] == []
    resources: dict[str, dict] = {}
    texts = []
    for item in manifest["output"]:
        f = api.client.get(item["url"], headers=api.h("researcher"))
        assert f.status_code == 200 and f.headers["content-type"] == "application/fhir+ndjson"
        lines = f.text.splitlines()
        assert len(lines) == item["count"] > 0
        for line in lines:
            res = json.loads(line)  # one resource per line
            assert res["resourceType"] == item["type"]
            get_fhir_model_class(item["type"]).model_validate(res)
            resources[f"{res['resourceType']}/{res['id']}"] = res
        texts.append(f.text)
        # the same bearer token is required; another researcher's token is not enough
        assert api.client.get(item["url"]).status_code == 401
        assert api.client.get(item["url"], headers=other_researcher).status_code == 404
    for ref, res in resources.items():
        assert _references(res) <= set(resources), ref  # every reference resolves
        for profile in res.get("meta", {}).get("profile", []):  # US Core, as $everything
            assert check(res, profile) == [], (ref, profile, check(res, profile))
    assert any(r.get("meta", {}).get("profile") for r in resources.values())
    text = "\n".join(texts)
    for secret in (planted["family_name"], planted["mrn"], "Wallaby", "555-0142", "Planted,"):
        assert secret not in text, secret
    for r in resources.values():
        if r["resourceType"] == "Patient":  # a name may say only why it is absent
            assert "birthDate" not in r and "telecom" not in r and "address" not in r
            for name in r.get("name", []):
                assert not {"family", "given", "text"} & set(name), name
    rid = planted["research_id"]
    mine = json.dumps([r for k, r in resources.items() if rid in k])
    kinds = {k.split("/")[0] for k in resources if rid in k}
    assert kinds >= {"Patient", "MedicationAdministration", "QuestionnaireResponse", "AdverseEvent"}
    for day in REAL_DAYS:
        assert day not in mine, day  # no real date of this patient's record
    assert "2025-09-27T10:00:00" in mine and "2025-09-26T09:00:00" in mine  # moved by -100
    assert "other (free text withheld)" in mine
    # the status is the asker's (and an admin's) only
    assert api.client.get(location, headers=other_researcher).status_code == 404
    assert api.client.get(location, headers=api.h("clinician")).status_code == 404
    assert api.client.get(location, headers=api.h("admin")).status_code == 200
    assert api.client.get(location).status_code == 401


def test_patient_level_export_with_type_since_and_output_format(api, planted):
    r = _kick_off(
        api,
        path="/fhir/Patient/$export",
        _type="Patient,QuestionnaireResponse",
        _outputFormat="application/fhir+ndjson",
    )
    assert r.status_code == 202, r.text
    manifest = _poll(api, r.headers["content-location"]).json()
    assert {o["type"] for o in manifest["output"]} == {"Patient", "QuestionnaireResponse"}
    assert "_type=Patient%2CQuestionnaireResponse" in manifest["request"]
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    r = _kick_off(api, role="admin", _since=future, _outputFormat="ndjson")
    assert r.status_code == 202, r.text
    assert _poll(api, r.headers["content-location"], role="admin").json()["output"] == []


def test_a_clinician_is_refused(api, database, planted):
    r = _kick_off(api, role="clinician")
    body = _outcome(r, 403)
    assert body["issue"][0]["code"] == "forbidden"
    with database.transaction() as s:
        assert not s.scalar(
            select(func.count())
            .select_from(BulkExport)
            .where(BulkExport.user_id == api.world.clinician.user_id)
        )


def test_refusals_name_the_header_or_parameter(api):
    h = api.h("researcher")
    _outcome(api.client.get("/fhir/$export", headers=h), 400, "Prefer")
    r = api.client.get("/fhir/$export", headers={**h, "Prefer": "return=minimal"})
    _outcome(r, 400, "Prefer")
    r = api.client.get("/fhir/$export", headers={**h, **ASYNC, "Accept": "application/xml"})
    _outcome(r, 400, "Accept")
    for params, field in (
        ({"_type": "Patient,Encounter"}, "_type"),
        ({"_since": "2026-01-05"}, "_since"),
        ({"_outputFormat": "text/csv"}, "_outputFormat"),
        ({"_elements": "id"}, "_elements"),
        ({"_typeFilter": "Observation?code=1"}, "_typeFilter"),
        ({"nonsense": "1"}, "nonsense"),
    ):
        body = _outcome(_kick_off(api, **params), 400, field)
        assert body["issue"][0]["code"] == "invalid"
    assert "Encounter" in _kick_off(api, _type="Patient,Encounter").text
    assert api.client.get("/fhir/$export", headers=ASYNC).status_code == 401


def test_delete_cancels_and_the_status_is_then_gone(api, planted):
    r = _kick_off(api, _type="Patient")
    location = r.headers["content-location"]
    manifest = _poll(api, location).json()
    url = manifest["output"][0]["url"]
    assert api.client.get(url, headers=api.h("researcher")).status_code == 200
    gone = api.client.delete(location, headers=api.h("researcher"))
    assert gone.status_code == 202 and gone.json()["resourceType"] == "OperationOutcome"
    _outcome(api.client.get(location, headers=api.h("researcher")), 404)
    _outcome(api.client.get(url, headers=api.h("researcher")), 404)
    _outcome(api.client.delete(location, headers=api.h("researcher")), 404)


def test_in_progress_then_resumed_by_a_poll(api, database, planted):
    """An export accepted but never started (its host died): 202 with X-Progress; the user's
    next kick-off is 429; once left behind, a status poll on any host runs it."""
    with database.transaction() as s:
        actor = auth.actor_of(s.get(User, api.world.researcher.user_id))
        export_id = bulk_export.kick_off(s, actor, "http://testserver/fhir/$export", None, None)
    location = f"http://testserver/fhir/bulkstatus/{export_id}"
    r = api.client.get(location, headers=api.h("researcher"))
    assert r.status_code == 202 and r.headers["x-progress"] == "queued"
    assert r.headers["retry-after"] == str(bulk_export.POLL_AFTER_S) and not r.content
    busy = _kick_off(api)
    assert _outcome(busy, 429)["issue"][0]["code"] == "throttled"
    assert busy.headers["retry-after"] == str(bulk_export.POLL_AFTER_S)
    with database.transaction() as s:
        s.execute(
            update(BulkExport)
            .where(BulkExport.id == export_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=2))
        )
    assert _poll(api, location).status_code == 200


def test_a_failed_export_answers_500_with_the_reason(api, database):
    with database.transaction() as s:
        actor = auth.actor_of(s.get(User, api.world.admin.user_id))
        export_id = bulk_export.kick_off(s, actor, "http://testserver/fhir/$export", None, None)
    assert bulk_export.claim(database, export_id) is not None  # then its process dies
    location = f"http://testserver/fhir/bulkstatus/{export_id}"
    r = api.client.get(location, headers=api.h("admin"))
    assert r.status_code == 202 and r.headers["x-progress"] == "starting"
    with database.transaction() as s:
        s.execute(
            update(BulkExport)
            .where(BulkExport.id == export_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    body = _outcome(api.client.get(location, headers=api.h("admin")), 500)
    assert body["issue"][0]["diagnostics"] == bulk_export.STALE


def test_the_capability_statement_lists_the_export(api):
    """What /fhir/metadata lists is served: the Bulk Data system and Patient export, and the
    statement it instantiates (Bulk Data Access IG 2.0.0 canonical URLs)."""
    cs = api.client.get("/fhir/metadata").json()
    assert cs["instantiates"] == ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"]
    system_ops = {o["name"]: o["definition"] for o in cs["rest"][0]["operation"]}
    assert system_ops["export"] == "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert "patient-export" in {o["name"] for o in patient["operation"]}
    for path in ("/fhir/$export", "/fhir/Patient/$export"):
        r = api.client.get(path, headers=api.h("researcher"))  # no Prefer: refused, not 404
        assert r.status_code == 400 and "Prefer" in r.text, (path, r.text)
