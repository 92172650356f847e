"""raad's FHIR export against US Core 6.1.0 (issue "Inside the EHR"): every resource of a
clinician's and of a researcher's ``Patient/$everything`` validates with ``fhir.resources`` and
passes ``us_core_check`` for each profile it claims in ``meta.profile`` (the real US Core
StructureDefinitions in ``tests/fixtures/us-core/``); the checker fails resources that lack what
a profile requires; no real date reaches the researcher; every QuestionnaireResponse points at
a Questionnaire raad serves; pregnancy status is LOINC 82810-3 with a SNOMED CT answer from US
Core's pregnancy status value set, and an export imported again reads the same facts.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import update

from raad.interop import fhir_export
from raad.interop.fhir_read import read_bundle
from raad.knowledge.codes import SYSTEM_URIS
from raad.knowledge.record_reading import record_reading
from raad.knowledge.treatment import agents, parse_code
from raad.store.models import Patient
from tests.api.helpers import madrs_items, new_course, new_patient, phq9_items, post_rating
from tests.api.helpers import session_body as base_session
from tests.interop.us_core_check import check, profiles

SHIFT = -200  # the researcher's date shift, set on the patient so no shifted day is a real one
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
SNOMED, LOINC = SYSTEM_URIS["SNOMED-CT"], SYSTEM_URIS["LOINC"]
# VSAC 2.16.840.1.113762.1.4.1099.24 "Extended Pregnancy Status", the value set US Core 6.1.0's
# us-core-pregnancy-status imports (HL7 eCR STU 2 ValueSet page; knowledge source
# hl7-ecr-extended-pregnancy-status): 102874004 Possible, 60001007 Not pregnant, 77386006 Pregnant
EXTENDED_PREGNANCY_STATUS = {"102874004", "60001007", "77386006"}
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def record(api, database):
    """A patient with screening facts, a ketamine session raising an alert, three ratings, and
    a known date shift; every date within three days of today."""
    today = datetime.now(UTC).date()
    p = new_patient(
        api,
        pregnant=False,
        breastfeeding=False,
        opioid_use=False,
        b12_status="low",
        systolic_mmhg=132,
        diastolic_mmhg=84,
        conditions=[
            {"text": "recurrent major depressive disorder", "system": "ICD-10-CM", "code": "F33.2"},
            "pneumothorax",
        ],
        medications=["sertraline"],
        allergies=[{"text": "penicillin"}],
    )
    with database.transaction() as s:
        s.execute(update(Patient).where(Patient.id == p["id"]).values(date_shift_days=SHIFT))
    c = new_course(
        api, p["id"], regimen="ketamine-iv-weekly", weight_kg=70, start=str(today - timedelta(3))
    )
    session_day = today - timedelta(days=2)
    body = base_session(
        c["id"],
        start=f"{session_day}T10:00:00+00:00",
        n2o_fraction=None,
        dose_mg=35,
        dose_mg_per_kg=0.5,
        bp_post={"systolic": 190, "diastolic": 100},
        adverse_events=[{"event": "nausea", "severity": "moderate"}],
    )
    r = api.client.post("/sessions", headers=api.h("clinician"), json=body)
    assert r.status_code == 201, r.text
    rated = today - timedelta(days=3)
    post_rating(api, p["id"], "PHQ-9", phq9_items(11), f"{rated}T09:00:00+00:00")
    post_rating(api, p["id"], "MADRS", madrs_items(24), f"{rated}T09:30:00+00:00")
    post_rating(api, p["id"], "C-SSRS", {"1": 0, "2": 0, "6": 0}, f"{session_day}T11:30:00+00:00")
    return {"patient": p, "session_day": session_day}


def _everything(api, record, role: str) -> dict:
    r = api.client.get(f"/fhir/Patient/{record['patient']['id']}/$everything", headers=api.h(role))
    assert r.status_code == 200, r.text
    return r.json()


def _resources(bundle: dict, kind: str | None = None) -> list[dict]:
    return [
        e["resource"]
        for e in bundle["entry"]
        if kind is None or e["resource"]["resourceType"] == kind
    ]


def _coded(resource: dict, system: str) -> set[str]:
    return {c["code"] for c in resource.get("code", {}).get("coding", []) if c["system"] == system}


# -- every resource validates and meets the profiles it claims ---------------------------------


@pytest.mark.parametrize("role", ["clinician", "researcher"])
def test_every_resource_validates_and_meets_the_us_core_profile_it_claims(api, record, role):
    bundle = _everything(api, record, role)
    cs = api.client.get("/fhir/metadata").json()
    supported = {r["type"]: set(r.get("supportedProfile", [])) for r in cs["rest"][0]["resource"]}
    claimed: dict[str, set[str]] = {}
    for res in _resources(bundle):
        get_fhir_model_class(res["resourceType"]).model_validate(res)  # raises if invalid
        for url in res.get("meta", {}).get("profile", []):
            assert url in supported.get(res["resourceType"], set()), (res["id"], url)
            assert check(res, url) == [], (res["id"], url)
            claimed.setdefault(res["resourceType"], set()).add(url)
    # every profile raad says it supports is met by some resource of this record, and the
    # resource types US Core profiles are all claimed where they occur
    assert claimed == {k: set(v) for k, v in fhir_export.PROFILES.items()}
    for kind in ("Patient", "Condition", "AllergyIntolerance", "QuestionnaireResponse"):
        assert all(r.get("meta", {}).get("profile") for r in _resources(bundle, kind)), kind
    own = fhir_export.FACT_SYSTEM
    for obs in _resources(bundle, "Observation"):  # only the B12 status, a status without a
        if not obs.get("meta", {}).get("profile"):  # measured value, claims no profile
            assert _coded(obs, own) == {"b12-status"}, obs["id"]
    for qr in _resources(bundle, "QuestionnaireResponse"):  # its SDC parent (not in fixtures)
        assert qr["questionnaire"] and qr["authored"] and all(i["linkId"] for i in qr["item"])


def test_the_researchers_patient_has_no_name_only_the_reason_it_is_absent(api, record):
    (pat,) = _resources(_everything(api, record, "researcher"), "Patient")
    export = record_reading().export
    assert pat["name"] == [
        {
            "extension": [
                {"url": fhir_export.DATA_ABSENT_REASON, "valueCode": export.data_absent_reason}
            ]
        }
    ]
    assert check(pat, US_CORE + "us-core-patient") == []
    (named,) = _resources(_everything(api, record, "clinician"), "Patient")
    assert named["name"][0]["family"] == record["patient"]["identity"]["family_name"]


def test_a_sex_nobody_recorded_is_gender_unknown_and_reads_back_as_unknown():
    pat = fhir_export.patient_resource({"research_id": "R-NOSEX", "facts": {}}, identified=False)
    assert pat["gender"] == record_reading().export.unknown_gender
    assert check(pat, US_CORE + "us-core-patient") == []
    read = read_bundle({"resourceType": "Bundle", "entry": [{"resource": pat}]}, as_of=date.today())
    assert read.facts.sex is None and not read.patient_problems


# -- the checker can fail ------------------------------------------------------------------------


def _drop(path: str):
    def edit(res: dict) -> None:
        *parents, last = path.split(".")
        node = res
        for p in parents:
            node = node[p][0] if isinstance(node[p], list) else node[p]
        node.pop(last)

    return edit


def _set(path: str, value):
    def edit(res: dict) -> None:
        *parents, last = path.split(".")
        node = res
        for p in parents:
            node = node[p][0] if isinstance(node[p], list) else node[p]
        node[last] = value

    return edit


def _is_bp(r):
    return LOINC in {c["system"] for c in r["code"]["coding"]} and "component" in r


def _is_total(r):
    return any(c["code"] == "survey" for cat in r.get("category", []) for c in cat["coding"])


def _is_pregnancy(r):
    return US_CORE + "us-core-observation-pregnancystatus" in r.get("meta", {}).get("profile", [])


BREAKS = [
    ("Patient", None, "us-core-patient", _drop("name"), "Patient.name"),
    ("Patient", None, "us-core-patient", _drop("gender"), "Patient.gender"),
    ("Patient", None, "us-core-patient", _set("name", [{"text": "x"}]), "us-core-6"),
    (
        "Condition",
        None,
        "us-core-condition-problems-health-concerns",
        _drop("category"),
        "Condition.category",
    ),
    (
        "Condition",
        None,
        "us-core-condition-problems-health-concerns",
        _set(
            "category",
            [
                {
                    "coding": [
                        {"system": fhir_export.CONDITION_CATEGORY, "code": "encounter-diagnosis"}
                    ]
                }
            ],
        ),
        "Condition.category:us-core",
    ),
    (
        "AllergyIntolerance",
        None,
        "us-core-allergyintolerance",
        _drop("code"),
        "AllergyIntolerance.code",
    ),
    (
        "Observation",
        _is_bp,
        "us-core-blood-pressure",
        _drop("category"),
        "Observation.category:VSCat",
    ),
    (
        "Observation",
        _is_bp,
        "us-core-blood-pressure",
        _set("component", []),
        "Observation.component:systolic",
    ),
    (
        "Observation",
        _is_bp,
        "us-core-blood-pressure",
        _set("component.valueQuantity.code", "mmHg"),
        "valueQuantity.code",
    ),
    (
        "Observation",
        _is_pregnancy,
        "us-core-observation-pregnancystatus",
        _drop("valueCodeableConcept"),
        "Observation.valueCodeableConcept",
    ),
    (
        "Observation",
        _is_pregnancy,
        "us-core-observation-pregnancystatus",
        _set("code", {"coding": [{"system": LOINC, "code": "2118-8"}]}),
        "Observation.code",
    ),
    (
        "Observation",
        _is_total,
        "us-core-observation-screening-assessment",
        _drop("subject"),
        "Observation.subject",
    ),
    (
        "Observation",
        _is_total,
        "us-core-observation-screening-assessment",
        _set("category", [{"text": "survey"}]),
        "Observation.category:survey",
    ),
    (
        "QuestionnaireResponse",
        None,
        "us-core-questionnaireresponse",
        _drop("subject"),
        "QuestionnaireResponse.subject",
    ),
    ("Patient", None, "us-core-patient", _drop("meta"), "meta.profile"),
]


@pytest.mark.parametrize(
    ("kind", "which", "profile", "edit", "named"), BREAKS, ids=[b[4] for b in BREAKS]
)
def test_the_checker_fails_a_resource_that_lacks_what_the_profile_requires(
    api, record, kind, which, profile, edit, named
):
    bundle = _everything(api, record, "clinician")
    res = next(r for r in _resources(bundle, kind) if which is None or which(r))
    assert check(res, US_CORE + profile) == []
    broken = copy.deepcopy(res)
    edit(broken)
    issues = check(broken, US_CORE + profile)
    assert any(named in i for i in issues), issues


def test_the_checker_reads_the_real_structure_definitions():
    """The fixtures are US Core 6.1.0's own: the profiles raad claims, with their rules."""
    sds = profiles().structures
    assert set(fhir_export.PROFILES["Observation"]) <= set(sds)
    preg = sds[US_CORE + "us-core-observation-pregnancystatus"]
    by_id = {e["id"]: e for e in preg["differential"]["element"]}
    assert by_id["Observation.valueCodeableConcept"]["min"] == 1
    bp = sds[US_CORE + "us-core-blood-pressure"]
    assert bp["baseDefinition"] == US_CORE + "us-core-vital-signs"


# -- de-identification: no real date ------------------------------------------------------------


def test_no_date_of_the_identified_bundle_appears_in_the_researchers(api, record):
    named = json.dumps(_everything(api, record, "clinician"))
    research = json.dumps(_everything(api, record, "researcher"))
    real = set(DATE.findall(named))
    assert str(record["session_day"]) in real  # the comparison has real dates to look for
    assert not real & set(DATE.findall(research))
    # the researcher's dates are there, moved by the patient's shift, not dropped
    assert str(record["session_day"] + timedelta(days=SHIFT)) in research


# -- questionnaires -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinician", "researcher"])
def test_every_questionnaire_response_points_at_a_questionnaire_raad_serves(api, record, role):
    responses = _resources(_everything(api, record, role), "QuestionnaireResponse")
    assert len(responses) == 3
    for qr in responses:
        found = api.client.get("/fhir/Questionnaire", params={"url": qr["questionnaire"]}).json()
        assert found["total"] == 1, qr["questionnaire"]
        q = found["entry"][0]["resource"]
        assert q["url"] == qr["questionnaire"].split("|")[0]
        links = set()
        stack = list(q["item"])
        while stack:
            item = stack.pop()
            links.add(item["linkId"])
            stack += item.get("item", [])
        assert {i["linkId"] for i in qr["item"]} <= links


# -- coded screening facts and the round trip ---------------------------------------------------


def _pregnancy(bundle: dict) -> dict:
    pattern = next(
        e["patternCodeableConcept"]
        for e in profiles().structures[US_CORE + "us-core-observation-pregnancystatus"][
            "differential"
        ]["element"]
        if e["id"] == "Observation.code"
    )
    (obs,) = [
        o
        for o in _resources(bundle, "Observation")
        if {c["code"] for c in pattern["coding"]} <= _coded(o, LOINC)
    ]
    return obs


def test_pregnancy_status_is_loinc_82810_3_with_a_snomed_answer_from_us_core(api, record):
    obs = _pregnancy(_everything(api, record, "clinician"))
    assert _coded(obs, LOINC) == {"82810-3"}
    (answer,) = obs["valueCodeableConcept"]["coding"]
    assert answer["system"] == SNOMED and answer["code"] in EXTENDED_PREGNANCY_STATUS
    assert answer["code"] == "60001007"  # not pregnant, as the record says


@pytest.mark.parametrize("pregnant", [True, False])
@pytest.mark.parametrize("breastfeeding", [True, False])
def test_coded_facts_read_back_as_they_were(pregnant, breastfeeding):
    as_of = date(2026, 11, 20)
    facts = {"pregnant": pregnant, "breastfeeding": breastfeeding, "opioid_use": not pregnant}
    patient = {"research_id": "R-RT", "sex": "female", "facts": facts}
    resources = [fhir_export.patient_resource(patient, identified=False)]
    resources += fhir_export.fact_resources(patient, f"{as_of}T08:00:00+00:00")
    preg = next(r for r in resources if "82810-3" in _coded(r, LOINC))
    assert {c["code"] for c in preg["valueCodeableConcept"]["coding"]} <= (
        EXTENDED_PREGNANCY_STATUS
    )
    read = read_bundle(
        {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}, as_of=as_of
    )
    assert not read.problems
    got = read.facts
    assert (got.pregnant, got.breastfeeding, got.opioid_use) == (
        pregnant,
        breastfeeding,
        not pregnant,
    )


def test_an_exported_record_imported_at_another_site_reads_the_same_facts(api, record):
    first = _everything(api, record, "clinician")
    moved = api.client.post(
        "/fhir/import", json=first, params={"site": api.world.other_site}, headers=api.h("admin")
    )
    assert moved.status_code == 201, moved.text
    pid = moved.json()["patient_id"]
    stored = api.client.get(f"/patients/{pid}", headers=api.h("admin")).json()["facts"]
    original = record["patient"]["facts"]
    for key in ("pregnant", "breastfeeding", "opioid_use", "b12_status", "systolic_mmhg"):
        assert stored[key] == original[key], key
    again = _everything(api, {"patient": {"id": pid}}, "admin")
    assert _pregnancy(again)["valueCodeableConcept"] == _pregnancy(first)["valueCodeableConcept"]


# -- the agents' codes --------------------------------------------------------------------------


def test_every_agent_is_coded_with_its_atc_and_rxnorm_codes():
    for agent_id, agent in agents().items():
        concept = fhir_export._agent_concept(agent_id)
        got = {(c["system"], c["code"]) for c in concept["coding"]}
        want = {(SYSTEM_URIS[r.system], r.code) for r in map(parse_code, agent.codes)}
        assert got == want
        assert {SYSTEM_URIS["ATC"], SYSTEM_URIS["RXNORM"]} <= {s for s, _ in got}, agent_id


def test_the_session_administration_carries_both_codes(api, record):
    (admin,) = _resources(_everything(api, record, "researcher"), "MedicationAdministration")
    systems = {c["system"] for c in admin["medicationCodeableConcept"]["coding"]}
    assert {SYSTEM_URIS["ATC"], SYSTEM_URIS["RXNORM"]} <= systems
