"""The FHIR server face (issue 22, first part): GET /fhir/metadata, the Patient read and
$everything by the Patient id the export itself uses (the research id), and fullUrls that
R4's reference rules resolve inside the Bundle."""

from __future__ import annotations

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from tests.api.helpers import madrs_items, new_course, new_patient, post_rating


def _record(api):
    p = new_patient(api, pregnant=False)
    new_course(api, p["id"], regimen="n2o-50-twice-weekly", start="2026-01-05")
    post_rating(api, p["id"], "MADRS", madrs_items(30), "2026-01-04T09:00:00+00:00")
    return p


def test_metadata_is_a_valid_capability_statement_listing_what_is_served(api):
    r = api.client.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    cs = r.json()
    CapabilityStatement.model_validate(cs)
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance"
    kinds = {x["type"]: x for x in cs["rest"][0]["resource"]}
    assert [i["code"] for i in kinds["Patient"]["interaction"]] == ["read"]
    assert kinds["Patient"]["operation"][0]["name"] == "everything"
    assert {"read", "search-type"} == {i["code"] for i in kinds["Questionnaire"]["interaction"]}


def test_everything_by_the_exported_patient_id_and_references_resolve(api):
    p = _record(api)
    by_int = api.client.get(f"/fhir/Patient/{p['id']}/$everything", headers=api.h("clinician"))
    bundle = by_int.json()
    rid = next(
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    by_rid = api.client.get(f"/fhir/Patient/{rid}/$everything", headers=api.h("clinician"))
    assert by_rid.status_code == 200
    same = by_rid.json()
    assert [e["fullUrl"] for e in same["entry"]] == [e["fullUrl"] for e in bundle["entry"]]
    full_urls = {e["fullUrl"] for e in same["entry"]}
    base = "http://testserver/fhir"
    assert all(u.startswith(base + "/") for u in full_urls)
    for e in same["entry"]:
        for ref in _references(e["resource"]):
            assert f"{base}/{ref}" in full_urls, ref  # every reference resolves in the Bundle
    patient = api.client.get(f"/fhir/Patient/{rid}", headers=api.h("clinician"))
    assert patient.status_code == 200 and patient.json()["id"] == rid
    assert "name" in patient.json()  # identified for the clinician of the site
    research = api.client.get(f"/fhir/Patient/{rid}", headers=api.h("researcher")).json()
    assert research["id"] == rid  # US Core's mandatory name carries no name, only why
    assert all(set(n) == {"extension"} for n in research["name"])
    other = api.client.get(f"/fhir/Patient/{rid}", headers=api.h("other_clinician"))
    assert other.status_code == 403 and other.json()["resourceType"] == "OperationOutcome"
    missing = api.client.get("/fhir/Patient/R-NOSUCHONE/$everything", headers=api.h("clinician"))
    assert missing.status_code == 404 and missing.json()["issue"][0]["code"] == "not-found"
    assert api.client.get(f"/fhir/Patient/{rid}").status_code == 401


def _references(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "reference" and isinstance(v, str) and "/" in v and not v.startswith("#"):
                yield v
            else:
                yield from _references(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _references(v)
