"""FHIR R4 export and import over the API: validation, identifiers by role, round trip, errors."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.api.helpers import new_course, new_patient, session_body

CORE = ("Patient", "Condition", "MedicationStatement", "Observation")


@pytest.fixture(scope="module")
def record(api):
    p = new_patient(
        api,
        b12_status="low",
        pregnant=False,
        opioid_use=False,
        systolic_mmhg=132,
        diastolic_mmhg=84,
        conditions=[
            {"text": "recurrent major depressive disorder", "system": "ICD-10-CM", "code": "F33.2"},
            "pneumothorax",
        ],
        medications=["sertraline", {"text": "naltrexone", "active": False}],
    )
    for drug, atc, weeks in (("sertraline", "N06AB06", 8), ("mirtazapine", "N06AX11", 6.5)):
        api.client.post(
            f"/patients/{p['id']}/history",
            headers=api.h("clinician"),
            json={
                "drug": drug,
                "atc": atc,
                "weeks": weeks,
                "adequate_dose": True,
                "outcome": "non-response",
                "current_episode": True,
            },
        )
    c = new_course(api, p["id"], regimen="ketamine-iv-weekly", weight_kg=70)
    api.client.post(
        "/sessions",
        headers=api.h("clinician"),
        json=session_body(
            c["id"],
            n2o_fraction=None,
            dose_mg=35,
            dose_mg_per_kg=0.5,
            bp_post={"systolic": 190, "diastolic": 100},
            adverse_events=[{"event": "nausea", "severity": "moderate"}],
        ),
    )
    api.client.post(
        f"/patients/{p['id']}/assessments",
        headers=api.h("clinician"),
        json={
            "instrument": "PHQ-9",
            "responses": {str(i): 1 for i in range(1, 10)},
            "administered_at": "2026-01-05T09:00:00+00:00",
        },
    )
    return p


def _resources(bundle, kind=None):
    return [
        e["resource"]
        for e in bundle["entry"]
        if kind is None or e["resource"]["resourceType"] == kind
    ]


def test_everything_bundle_validates_resource_by_resource(api, record):
    r = api.client.get(f"/fhir/Patient/{record['id']}/$everything", headers=api.h("clinician"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    b = r.json()
    kinds = {x["resourceType"] for x in _resources(b)}
    assert {
        "Patient",
        "Condition",
        "MedicationStatement",
        "MedicationAdministration",
        "Observation",
        "QuestionnaireResponse",
        "AdverseEvent",
        "Flag",
        "DetectedIssue",
    } <= kinds
    for res in _resources(b):
        get_fhir_model_class(res["resourceType"]).model_validate(res)  # raises if invalid
    (cond,) = [c for c in _resources(b, "Condition") if c["code"].get("coding")]
    assert cond["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10-cm",
        "code": "F33.2",
    }
    bp = [
        o for o in _resources(b, "Observation") if o["code"]["coding"][0].get("code") == "85354-9"
    ]
    assert {c["code"]["coding"][0]["code"] for c in bp[0]["component"]} == {"8480-6", "8462-4"}
    (admin,) = _resources(b, "MedicationAdministration")
    assert {"code": "N01AX03", "system": "http://www.whocc.no/atc"} in admin[
        "medicationCodeableConcept"
    ]["coding"]
    assert admin["dosage"]["dose"] == {
        "value": 35.0,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    (ae,) = _resources(b, "AdverseEvent")
    assert ae["event"]["text"] == "nausea" and ae["severity"]["coding"][0]["code"] == "moderate"
    assert any(d["severity"] == "high" for d in _resources(b, "DetectedIssue"))


def test_identifiers_only_for_those_who_may_see_them(api, record):
    clin = api.client.get(
        f"/fhir/Patient/{record['id']}/$everything", headers=api.h("clinician")
    ).json()
    res = api.client.get(f"/fhir/Patient/{record['id']}/$everything", headers=api.h("researcher"))
    assert res.status_code == 200
    (pat,) = _resources(res.json(), "Patient")
    # US Core's name is mandatory: it carries only the data-absent-reason extension (US Core
    # 6.1.0, "Suppressed Data": code unknown), never a name
    assert [set(n) for n in pat["name"]] == [{"extension"}] and "birthDate" not in pat
    assert [i["system"] for i in pat["identifier"]] == ["urn:raad:research-id"]
    text = res.text
    for secret in (
        record["identity"]["family_name"],
        record["identity"]["mrn"],
        record["identity"]["birth_date"],
    ):
        assert secret not in text
    assert record["identity"]["mrn"] in json.dumps(clin)
    assert (
        api.client.get(
            f"/fhir/Patient/{record['id']}/$everything", headers=api.h("other_clinician")
        ).status_code
        == 403
    )
    assert api.client.get(f"/fhir/Patient/{record['id']}/$everything").status_code == 401


def _core(bundle):
    out = []
    for r in _resources(bundle):
        if r["resourceType"] not in CORE:
            continue
        if (
            r["resourceType"] == "Observation"
            and r.get("category", [{}])[0].get("coding", [{}])[0].get("code") == "survey"
        ):
            continue  # scale totals belong to ratings, which import does not carry
        if r["resourceType"] == "Observation" and "-session-" in r["id"]:
            continue  # session vitals belong to sessions
        r = {k: v for k, v in r.items() if k not in ("id", "subject", "effectiveDateTime")}
        if r["resourceType"] == "Patient":
            r["identifier"] = [i for i in r["identifier"] if i["system"] != "urn:raad:research-id"]
        out.append(json.dumps(r, sort_keys=True))
    return sorted(out)


def test_round_trip_export_import_export(api, record):
    first = api.client.get(
        f"/fhir/Patient/{record['id']}/$everything", headers=api.h("clinician")
    ).json()
    # import into another site as a new patient (the same MRN there is another person)
    moved = api.client.post(
        "/fhir/import", json=first, params={"site": api.world.other_site}, headers=api.h("admin")
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["trials"] == 2
    again = api.client.get(
        f"/fhir/Patient/{moved.json()['patient_id']}/$everything", headers=api.h("admin")
    ).json()
    a = [x.replace(api.world.site, "SITE") for x in _core(first)]
    b = [x.replace(api.world.other_site, "SITE") for x in _core(again)]
    assert a == b, {"only first": sorted(set(a) - set(b)), "only again": sorted(set(b) - set(a))}
    # importing the same bundle at its own site updates that patient instead of duplicating
    same = api.client.post("/fhir/import", json=first, headers=api.h("clinician"))
    assert (
        same.status_code == 200
        and same.json()["patient_id"] == record["id"]
        and not same.json()["created"]
    )


def test_import_reports_what_it_cannot_use(api):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "x",
                    "name": [{"family": "Synthetic-Import", "given": ["Ian"]}],
                    "identifier": [{"system": "urn:x:mrn", "value": "IMP-1"}],
                    "gender": "male",
                }
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "subject": {"reference": "Patient/x"},
                    "code": {
                        "coding": [
                            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Q99.9"}
                        ],
                        "text": "an unusual condition",
                    },
                }
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "serum sodium"},
                }
            },
            {
                "resource": {
                    "resourceType": "Immunization",
                    "status": "completed",
                    "vaccineCode": {"text": "flu"},
                    "patient": {"reference": "Patient/x"},
                    "occurrenceDateTime": "2025-10-01",
                }
            },
        ],
    }
    r = api.client.post("/fhir/import", json=bundle, headers=api.h("clinician"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert any("serum sodium" in u for u in body["unused"])
    assert any("Immunization" in u for u in body["unused"])
    assert any("unusual condition" in u for u in body["unrecognised"])


def test_ndjson_import(api):
    lines = [
        {
            "resourceType": "Patient",
            "name": [{"family": "Synthetic-Ndjson", "given": ["Nia"]}],
            "identifier": [{"system": "urn:x:mrn", "value": "ND-1"}],
        },
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "subject": {"reference": "Patient/x"},
            "medicationCodeableConcept": {"text": "naltrexone"},
        },
    ]
    body = "\n".join(json.dumps(x) for x in lines)
    r = api.client.post(
        "/fhir/import",
        content=body,
        headers=api.h("clinician", **{"Content-Type": "application/fhir+ndjson"}),
    )
    assert r.status_code == 201, r.text
    s = api.client.post(
        f"/patients/{r.json()['patient_id']}/screenings", headers=api.h("clinician")
    ).json()
    assert s["agents"]["ketamine"]["status"] in ("caution", "contraindicated")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"resourceType": "Patient"}, "resourceType"),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "Patient",
                            "gender": 5,
                            "name": [{"family": "X", "given": ["Y"]}],
                            "identifier": [{"system": "urn:x:mrn", "value": "M"}],
                        }
                    }
                ],
            },
            "bundle.entry[0].resource",
        ),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, "bundle.entry"),
    ],
)
def test_malformed_fhir_is_400_with_the_path(api, body, path):
    r = api.client.post("/fhir/import", json=body, headers=api.h("clinician"))
    assert r.status_code == 400, r.text
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert oo["issue"][0]["expression"][0].startswith(path)


def test_oversize_payloads_are_refused(api):
    from raad.interop.fhir_read import MAX_ENTRIES

    entries = [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}}
    ] * (MAX_ENTRIES + 1)
    r = api.client.post(
        "/fhir/import",
        json={"resourceType": "Bundle", "type": "collection", "entry": entries},
        headers=api.h("clinician"),
    )
    assert r.status_code == 413
    r = api.client.post(
        "/fhir/import", content=b"x", headers=api.h("clinician", **{"Content-Length": str(10**9)})
    )
    assert r.status_code == 413


def test_research_export_over_the_api(api, record):
    r = api.client.get("/research/export/assessments.parquet", headers=api.h("researcher"))
    assert r.status_code == 200
    frame = pd.read_parquet(io.BytesIO(r.content))
    assert record["research_id"] in set(frame["research_id"])
    assert record["identity"]["mrn"].encode() not in r.content
    csv = api.client.get("/research/export/sessions.csv", headers=api.h("researcher"))
    assert csv.status_code == 200 and record["research_id"] in csv.text
    assert (
        api.client.get("/research/export/sessions.csv", headers=api.h("clinician")).status_code
        == 403
    )
    assert (
        api.client.get("/research/export/nope.csv", headers=api.h("researcher")).status_code == 422
    )
    assert (
        "assessments"
        in api.client.get("/research/export/dictionary", headers=api.h("researcher")).json()
    )


def test_cds_hooks_over_http(api):
    d = api.client.get("/cds-services")
    assert d.status_code == 200 and {s["id"] for s in d.json()["services"]} == {
        "raad-screening",
        "raad-order-check",
    }
    from raad.interop.cds_hooks import PREFETCH

    req = {
        "hook": "patient-view",
        "hookInstance": "x",
        "context": {"patientId": "p"},
        "prefetch": {k: None for k in PREFETCH}
        | {"patient": {"resourceType": "Patient", "id": "p"}},
    }
    missing = req | {"prefetch": {"patient": {"resourceType": "Patient", "id": "p"}}}
    r412 = api.client.post("/cds-services/raad-screening", json=missing, headers=api.h("clinician"))
    assert r412.status_code == 412 and r412.json()["field"].startswith("prefetch.")
    assert api.client.post("/cds-services/raad-screening", json=req).status_code == 401
    ok = api.client.post("/cds-services/raad-screening", json=req, headers=api.h("clinician"))
    assert ok.status_code == 200 and len(ok.json()["cards"]) == 4
    assert all(c["indicator"] in ("info", "warning", "critical") for c in ok.json()["cards"])
    bad = api.client.post(
        "/cds-services/raad-screening",
        content=b"{",
        headers=api.h("clinician", **{"Content-Type": "application/json"}),
    )
    assert bad.status_code == 400
    assert (
        api.client.post("/cds-services/nope", json=req, headers=api.h("clinician")).status_code
        == 404
    )
    wrong = api.client.post(
        "/cds-services/raad-screening",
        json={**req, "hook": "order-select"},
        headers=api.h("clinician"),
    )
    assert wrong.status_code == 400 and wrong.json()["field"] == "hook"


def _ndjson(*resources):
    return "\n".join(json.dumps(r) for r in resources)


def test_reimport_keeps_what_it_does_not_send_and_removes_what_it_withdraws(api):
    patient = {
        "resourceType": "Patient",
        "id": "pt-9",
        "name": [{"family": "Synthetic-Merge", "given": ["Mo"]}],
        "identifier": [{"system": "urn:x:mrn", "value": "MERGE-1"}],
        "gender": "male",
    }
    ptx = {
        "resourceType": "Condition",
        "id": "c-ptx",
        "subject": {"reference": "Patient/pt-9"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J93.11"}]},
    }
    mdd = ptx | {
        "id": "c-mdd",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.2"}]},
    }
    h = api.h("clinician", **{"Content-Type": "application/fhir+ndjson"})
    first = api.client.post("/fhir/import", content=_ndjson(patient, ptx, mdd), headers=h)
    assert first.status_code == 201, first.text
    pid = first.json()["patient_id"]

    def screen_n2o():
        r = api.client.post(f"/patients/{pid}/screenings", headers=api.h("clinician"))
        assert r.status_code == 201, r.text
        return r.json()["agents"]["n2o"]["status"]

    assert screen_n2o() == "contraindicated"
    # a re-import that sends only the depression keeps the pneumothorax
    again = api.client.post("/fhir/import", content=_ndjson(patient, mdd), headers=h)
    assert again.status_code == 200 and again.json()["removed"] == []
    assert screen_n2o() == "contraindicated"
    # the EHR marks the pneumothorax entered-in-error: the import removes it and says so
    wrong = ptx | {"verificationStatus": {"coding": [{"code": "entered-in-error"}]}}
    fixed = api.client.post("/fhir/import", content=_ndjson(patient, wrong), headers=h)
    assert any("Condition/c-ptx" in r for r in fixed.json()["removed"]), fixed.text
    assert screen_n2o() != "contraindicated"


def test_an_ndjson_condition_about_another_patient_is_not_stored(api):
    patient = {
        "resourceType": "Patient",
        "id": "pt-10",
        "name": [{"family": "Synthetic-Subject", "given": ["Sue"]}],
        "identifier": [{"system": "urn:x:mrn", "value": "SUBJ-1"}],
        "gender": "female",
    }
    other = {
        "resourceType": "Condition",
        "id": "c-other",
        "subject": {"reference": "Patient/someone-else"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J93.11"}]},
    }
    r = api.client.post(
        "/fhir/import",
        content=_ndjson(patient, other),
        headers=api.h("clinician", **{"Content-Type": "application/fhir+ndjson"}),
    )
    assert r.status_code == 201, r.text
    assert any("someone-else" in u for u in r.json()["unused"])
    stored = api.client.get(
        f"/patients/{r.json()['patient_id']}", headers=api.h("clinician")
    ).json()
    assert not stored["facts"].get("conditions")


def _patient_resource(mrn, **more):
    return {
        "resourceType": "Patient",
        "id": "pt",
        "name": [{"family": "Synthetic-Review", "given": ["Rae"]}],
        "identifier": [
            {
                "system": "http://hospital.example.org/mrn",
                "value": mrn,
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
            }
        ],
        "gender": "female",
        "birthDate": "1980-05-02",
    } | more


def _import(api, *resources, **kw):
    return api.client.post(
        "/fhir/import",
        json={
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        },
        headers=api.h("clinician"),
        **kw,
    )


def test_an_mr_typed_identifier_is_the_record_number(api):
    """US Core and Synthea mark the record number with the HL7 v2-0203 type MR."""
    r = _import(api, _patient_resource("MR-typed-1"))
    assert r.status_code == 201, r.text


def test_a_partial_birth_date_is_imported_without_a_day(api):
    r = _import(api, _patient_resource("PARTIAL-1", birthDate="1980"))
    assert r.status_code == 201, r.text
    assert any("partial" in n for n in r.json()["notes"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": [{"family": "x" * 101, "given": ["A"]}]}, "Patient.name.family"),
        ({"name": {"family": "X"}}, "Patient.name"),
        ({"identifier": {"value": "1"}}, "Patient.identifier"),
        ({"birthDate": "02/05/1980"}, "Patient.birthDate"),
    ],
)
def test_a_malformed_patient_is_a_400_naming_the_element(api, change, field):
    r = _import(api, _patient_resource("BAD-1") | change)
    assert r.status_code == 400, r.text
    assert r.json()["issue"][0]["expression"][0].startswith(field)


def test_another_person_with_the_same_record_number_is_not_merged(api):
    first = _import(api, _patient_resource("SAME-1"))
    assert first.status_code == 201
    other = _patient_resource(
        "SAME-1",
        name=[{"family": "Different", "given": ["Bo"]}],
        gender="male",
        birthDate="1990-01-01",
    )
    r = _import(api, other)
    assert r.status_code == 409 and "not merged" in r.json()["issue"][0]["diagnostics"]


def test_an_older_reading_never_overwrites_a_newer_one(api):
    from datetime import date, timedelta

    today = date.today()
    pat = _patient_resource("ORDER-1")

    def preg(when, positive, rid):
        return {
            "resourceType": "Observation",
            "id": rid,
            "status": "final",
            "subject": {"reference": "Patient/pt"},
            "effectiveDateTime": when.isoformat(),
            "code": {"coding": [{"system": "http://loinc.org", "code": "2118-8"}]},
            "valueCodeableConcept": {"text": "Positive" if positive else "Negative"},
        }

    first = _import(api, pat, preg(today, True, "h1"))
    pid = first.json()["patient_id"]
    _import(api, pat, preg(today - timedelta(days=3), False, "h0"))
    stored = api.client.get(f"/patients/{pid}", headers=api.h("clinician")).json()["facts"]
    assert stored["pregnant"] is True


def test_stored_facts_age_out_of_later_screenings(api):
    from datetime import date, timedelta

    r = api.client.post(
        "/patients",
        json={
            "identity": {
                "given_name": "Aged",
                "family_name": "Synthetic-Facts",
                "mrn": "AGE-1",
                "birth_date": "1980-01-01",
            },
            "sex": "female",
            "facts": {
                "pregnant": False,
                "breastfeeding": False,
                "allergies": [],
                "b12_status": "normal",
                "opioid_use": False,
                "systolic_mmhg": 120,
                "diastolic_mmhg": 75,
            },
        },
        headers=api.h("clinician"),
    )
    pid = r.json()["id"]
    now = api.client.post(f"/patients/{pid}/screenings", headers=api.h("clinician")).json()
    later_day = (date.today() + timedelta(days=60)).isoformat()
    later = api.client.post(
        f"/patients/{pid}/screenings?as_of={later_day}", headers=api.h("clinician")
    ).json()
    assert now["agents"]["ketamine"]["status"] == "eligible"
    assert later["agents"]["ketamine"]["status"] == "caution"
    assert any("older than" in m for m in later["agents"]["ketamine"]["missing"])


def test_nan_and_infinity_in_an_import_are_problems_not_500s(api):
    raw = json.dumps(
        {
            "resourceType": "Bundle",
            "entry": [
                {"resource": _patient_resource("NAN-1")},
                {
                    "resource": {
                        "resourceType": "Observation",
                        "id": "bp",
                        "status": "final",
                        "subject": {"reference": "Patient/pt"},
                        "effectiveDateTime": "2026-11-29",
                        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                        "component": [
                            {
                                "code": {
                                    "coding": [{"system": "http://loinc.org", "code": "8480-6"}]
                                },
                                "valueQuantity": {"value": float("nan")},
                            },
                            {
                                "code": {
                                    "coding": [{"system": "http://loinc.org", "code": "8462-4"}]
                                },
                                "valueQuantity": {"value": float("inf")},
                            },
                        ],
                    }
                },
            ],
        }
    )
    assert "NaN" in raw
    r = api.client.post(
        "/fhir/import",
        content=raw,
        headers=api.h("clinician", **{"Content-Type": "application/json"}),
    )
    assert r.status_code == 201, r.text
    assert any("finite" in p for p in r.json()["problems"])


def test_questionnaires_are_served_for_form_fillers(api):
    """GET /fhir/Questionnaire: every instrument, searchable by canonical; no login needed
    (definitions, no patient data); an unknown id is a 404 OperationOutcome naming the known."""
    from fhir.resources.R4B.bundle import Bundle

    r = api.client.get("/fhir/Questionnaire")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(r.json())
    ids = {e.resource.id for e in bundle.entry}
    assert {"PHQ-9", "C-SSRS", "HAMD-17"} <= ids and bundle.total == len(ids)
    one = api.client.get(
        "/fhir/Questionnaire", params={"url": "urn:raad:fhir:Questionnaire:PHQ-9|0"}
    )
    assert [e["resource"]["id"] for e in one.json()["entry"]] == ["PHQ-9"]
    q = api.client.get("/fhir/Questionnaire/PHQ-9").json()
    assert q["resourceType"] == "Questionnaire" and any(i["linkId"] == "total" for i in q["item"])
    missing = api.client.get("/fhir/Questionnaire/BDI")
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"
    assert "PHQ-9" in missing.json()["issue"][0]["diagnostics"]
