"""The one FHIR R4 reader: every medicine shape, statuses, dates, units, subjects, allergies,
partial dates and broken elements, each fault kind of the EHR-data issue as a case."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from raad.clinical.facts import PatientFacts
from raad.clinical.screening import AGENTS, screen
from raad.interop import fhir_export
from raad.interop.fhir_read import MAX_ENTRIES, FhirReadError, read_bundle

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 30)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFY = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1980-05-02"}
SUBJECT = {"reference": "Patient/p1"}


def bundle(*resources, patient=PATIENT):
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (patient, *resources)],
    }


def status(b, agent, as_of=AS_OF):
    read = read_bundle(b, as_of=as_of)
    return screen(read.facts, as_of=as_of).agents[agent]


def rule_fired(agent_screen, when):
    return any(r.rule == when and r.level != "missing" for r in agent_screen.reasons)


def asked(agent_screen, when):
    return any(r.rule == when and r.level == "missing" for r in agent_screen.reasons)


def med(kind, text=None, code=None, status="active", **more):
    concept = {}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code}]
    if text:
        concept["text"] = text
    r = {"resourceType": kind, "id": more.pop("id", f"{kind}-{text or code}"), "status": status}
    r["patient" if kind == "AllergyIntolerance" else "subject"] = SUBJECT
    if concept:
        r["medicationCodeableConcept"] = concept
    return r | more


def obs(code, when, *, status="final", system=LOINC, **value):
    return {
        "resourceType": "Observation",
        "id": f"o-{code}-{when}",
        "status": status,
        "subject": SUBJECT,
        "code": {"coding": [{"system": system, "code": code}]},
        "effectiveDateTime": when,
        **value,
    }


def bp(code, when, systolic=None, diastolic=None, **kw):
    comps = []
    for c, v in (("8480-6", systolic), ("8462-4", diastolic)):
        if v is not None:
            comps.append(
                {
                    "code": {"coding": [{"system": LOINC, "code": c}]},
                    "valueQuantity": {"value": v, "unit": "mm[Hg]", "code": "mm[Hg]"},
                }
            )
    return obs(code, when, component=comps, **kw)


def condition(code=None, text=None, system=ICD10CM, clinical="active", verification=None, **kw):
    r = {
        "resourceType": "Condition",
        "id": kw.pop("id", f"c-{code or text}"),
        "subject": kw.pop("subject", SUBJECT),
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}]},
        "code": ({"coding": [{"system": system, "code": code}]} if code else {})
        | ({"text": text} if text else {}),
    }
    if verification:
        r["verificationStatus"] = {"coding": [{"system": VERIFY, "code": verification}]}
    return r | kw


# -- medicines in every shape -------------------------------------------------------------------


def test_active_oxycodone_medication_request_contraindicates_naltrexone():
    b = bundle(med("MedicationRequest", "oxycodone hydrochloride 5 MG Oral Tablet", intent="order"))
    assert status(b, "naltrexone").status == "contraindicated"
    assert rule_fired(status(b, "ketamine"), "cns_depressant")


def test_naltrexone_through_a_contained_medication_is_read():
    r = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "subject": SUBJECT,
        "contained": [
            {
                "resourceType": "Medication",
                "id": "med1",
                "code": {"coding": [{"system": RXNORM, "code": "7243"}]},
            }
        ],
        "medicationReference": {"reference": "#med1"},
    }
    k = status(bundle(r), "ketamine")
    assert rule_fired(k, "naltrexone")
    assert any("contained Medication #med1" in f for x in k.reasons for f in x.facts)


def test_naltrexone_through_a_medication_in_the_bundle_is_read():
    m = {"resourceType": "Medication", "id": "m9", "code": {"text": "Naltrexone 50 mg tablet"}}
    r = med(
        "MedicationStatement", status="active", medicationReference={"reference": "Medication/m9"}
    )
    assert rule_fired(status(bundle(m, r), "esketamine"), "naltrexone")


def test_a_reference_to_nothing_is_reported_with_its_path():
    r = med(
        "MedicationRequest", status="active", medicationReference={"reference": "Medication/absent"}
    )
    read = read_bundle(bundle(r), as_of=AS_OF)
    assert any("entry[1].resource.medicationReference" in p for p in read.problems)


@pytest.mark.parametrize(("days_ago", "current"), [(10, True), (27, True), (40, False)])
def test_a_naltrexone_depot_injection_acts_for_28_days(days_ago, current):
    given_on = (AS_OF - timedelta(days=days_ago)).isoformat()
    r = med(
        "MedicationAdministration",
        "naltrexone 380 MG extended-release injectable suspension",
        status="completed",
        effectiveDateTime=given_on,
    )
    k = status(bundle(r), "ketamine")
    assert rule_fired(k, "naltrexone") is current


def test_an_opioid_stopped_3_days_ago_still_counts_for_naltrexone():
    r = med(
        "MedicationStatement",
        "oxycodone 5 mg",
        status="completed",
        effectivePeriod={"start": "2026-11-01", "end": (AS_OF - timedelta(days=3)).isoformat()},
    )
    n = status(bundle(r), "naltrexone")
    assert n.status == "contraindicated" and rule_fired(n, "opioid")


def test_an_opioid_stopped_long_ago_does_not():
    r = med(
        "MedicationStatement",
        "oxycodone 5 mg",
        status="completed",
        effectivePeriod={"end": "2025-01-01"},
    )
    assert not rule_fired(status(bundle(r), "naltrexone"), "opioid")


def test_a_statement_with_status_unknown_is_asked_about():
    r = med("MedicationStatement", "tramadol 50 mg", status="unknown")
    n = status(bundle(r), "naltrexone")
    assert n.status != "eligible" and asked(n, "opioid")


def test_a_dispense_covers_its_days_supply():
    handed = (AS_OF - timedelta(days=5)).isoformat()
    r = med(
        "MedicationDispense",
        "oxycodone 5 mg",
        status="completed",
        whenHandedOver=handed,
        daysSupply={"value": 30, "unit": "day"},
    )
    assert status(bundle(r), "naltrexone").status == "contraindicated"


@pytest.mark.parametrize("bad", ["entered-in-error", "cancelled", "not-taken"])
def test_withdrawn_medicine_records_are_ignored_and_listed(bad):
    kind = "MedicationStatement" if bad == "not-taken" else "MedicationRequest"
    if bad == "entered-in-error":
        kind = "MedicationStatement"
    r = med(kind, "oxycodone 5 mg", status=bad)
    read = read_bundle(bundle(r), as_of=AS_OF)
    assert not read.facts.medications
    assert any(bad in u for u in read.unused)


# -- observations: status, newest, freshness, units, blood pressure ---------------------------


def b12(when, flag=None, status="final", value=None, unit="pg/mL", low=None):
    extra = {}
    if flag:
        extra["interpretation"] = [{"coding": [{"code": flag}]}]
    if value is not None:
        extra["valueQuantity"] = {"value": value, "unit": unit, "code": unit}
    if low is not None:
        extra["referenceRange"] = [{"low": {"value": low[0], "unit": low[1]}}]
    return obs("2132-9", when, status=status, **extra)


def test_the_newest_b12_wins_not_the_last_in_the_bundle():
    b = bundle(b12("2026-11-01", "L"), b12("2025-12-15", "N"))
    read = read_bundle(b, as_of=AS_OF)
    assert read.facts.b12_status == "low"
    assert "2026-11-01" in read.facts.fact_sources["b12_status"]


def test_an_entered_in_error_b12_is_not_used():
    b = bundle(b12("2026-10-01", "L"), b12("2026-11-01", "N", status="entered-in-error"))
    assert read_bundle(b, as_of=AS_OF).facts.b12_status == "low"


def test_b12_without_a_flag_is_read_against_its_reference_range_in_any_unit():
    # 100 pmol/L is below 200 pg/mL (= 147.6 pmol/L with the cited factor 1.3554)
    b = bundle(b12("2026-11-01", value=100, unit="pmol/L", low=(200, "pg/mL")))
    assert read_bundle(b, as_of=AS_OF).facts.b12_status == "low"
    b = bundle(b12("2026-11-01", value=160, unit="pmol/L", low=(200, "pg/mL")))
    assert read_bundle(b, as_of=AS_OF).facts.b12_status == "normal"


def test_b12_with_no_flag_and_no_range_is_not_guessed():
    read = read_bundle(bundle(b12("2026-11-01", value=180)), as_of=AS_OF)
    assert read.facts.b12_status is None
    assert screen(read.facts, as_of=AS_OF).agents["n2o"].missing


def test_a_blood_pressure_from_2016_is_missing_with_its_date():
    read = read_bundle(bundle(bp("85354-9", "2016-03-01", 120, 80)), as_of=AS_OF)
    assert read.facts.systolic_mmhg is None
    k = screen(read.facts, as_of=AS_OF).agents["ketamine"]
    assert any("2016-03-01" in m for m in k.missing)


def test_synthea_55284_4_panels_are_read():
    read = read_bundle(bundle(bp("55284-4", "2026-11-29T10:00:00Z", 131, 84)), as_of=AS_OF)
    assert (read.facts.systolic_mmhg, read.facts.diastolic_mmhg) == (131, 84)


def test_separate_systolic_and_diastolic_observations_at_one_time_make_a_reading():
    t = "2026-11-29T10:00:00Z"
    sys_ = obs("8480-6", t, valueQuantity={"value": 150, "unit": "mmHg", "code": "mm[Hg]"})
    dia = obs("8462-4", t, valueQuantity={"value": 95, "unit": "mmHg", "code": "mm[Hg]"})
    read = read_bundle(bundle(sys_, dia), as_of=AS_OF)
    assert (read.facts.systolic_mmhg, read.facts.diastolic_mmhg) == (150, 95)


def test_partial_readings_at_different_times_are_never_merged():
    old = bp("85354-9", "2026-11-20T09:00:00Z", 118, None)
    new = bp("85354-9", "2026-11-29T09:00:00Z", None, 101)
    read = read_bundle(bundle(old, new), as_of=AS_OF)
    assert read.facts.systolic_mmhg is None and read.facts.diastolic_mmhg is None
    assert any("no diastolic" in u or "no systolic" in u for u in read.unused)


def test_a_missing_diastolic_does_not_fail_the_screen():
    b = bundle(bp("85354-9", "2026-11-29T09:00:00Z", 150, None), condition("J93.11"))
    result = screen(read_bundle(b, as_of=AS_OF).facts, as_of=AS_OF)
    assert result.agents["n2o"].status == "contraindicated"  # the pneumothorax still counts


def test_a_blood_pressure_in_kpa_is_reported_not_guessed():
    r = bp("85354-9", "2026-11-29T09:00:00Z", 16, 10)
    for c in r["component"]:
        c["valueQuantity"] = {"value": c["valueQuantity"]["value"], "unit": "kPa", "code": "kPa"}
    read = read_bundle(bundle(r), as_of=AS_OF)
    assert read.facts.systolic_mmhg is None and any("kPa" in p for p in read.problems)


def test_a_positive_hcg_today_beats_an_old_not_pregnant():
    woman = PATIENT | {"gender": "female"}
    old = obs(
        "82810-3",
        "2026-11-01",
        valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA26683-5"}]},
    )
    hcg = obs("2106-3", "2026-11-29", valueCodeableConcept={"text": "Positive"})
    read = read_bundle(bundle(old, hcg, patient=woman), as_of=AS_OF)
    assert read.facts.pregnant is True


def test_a_pregnancy_status_from_2023_is_too_old():
    woman = PATIENT | {"gender": "female"}
    old = obs(
        "82810-3",
        "2023-05-01",
        valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA26683-5"}]},
    )
    read = read_bundle(bundle(old, patient=woman), as_of=AS_OF)
    assert read.facts.pregnant is None
    assert "2023-05-01" in read.facts.fact_notes["pregnancy_status"]


def test_site_policy_can_change_a_window():
    r = bp("85354-9", "2026-10-01T09:00:00Z", 120, 80)
    assert read_bundle(bundle(r), as_of=AS_OF).facts.systolic_mmhg is None
    assert (
        read_bundle(
            bundle(r), as_of=AS_OF, freshness_days={"blood_pressure": 90}
        ).facts.systolic_mmhg
        == 120
    )


# -- conditions: statuses, abatement, subject ----------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "counts"),
    [
        ({"verification": "entered-in-error"}, False),
        ({"verification": "refuted"}, False),
        ({"clinical": "resolved"}, False),
        ({"abatementDateTime": "2019-01-01"}, False),
        ({"verification": "provisional"}, True),
        ({"verification": "differential"}, True),
        ({}, True),
    ],
)
def test_condition_statuses(kw, counts):
    n = status(bundle(condition("J93.11", **kw)), "n2o")
    assert rule_fired(n, "pneumothorax") is counts


def test_a_condition_about_another_patient_is_refused():
    r = condition("J93.11", subject={"reference": "Patient/someone-else"})
    read = read_bundle(bundle(r), as_of=AS_OF)
    assert not read.facts.conditions
    assert any("someone-else" in u and "refused" in u for u in read.unused)


def test_urn_uuid_subjects_resolve_to_the_bundle_patient():
    b = bundle(condition("J93.11", subject={"reference": "urn:uuid:abc"}))
    b["entry"][0]["fullUrl"] = "urn:uuid:abc"
    assert status(b, "n2o").status == "contraindicated"


@pytest.mark.parametrize(
    ("code", "agent", "expected"),
    [
        ("Z82.3", "ketamine", "eligible-ish"),  # family history of stroke
        ("Z32.02", "n2o", "eligible-ish"),  # pregnancy test, result negative
    ],
)
def test_codes_that_only_look_relevant_do_not_fire(code, agent, expected):
    a = status(bundle(condition(code)), agent)
    assert not any(r.level in ("contraindicated", "caution") for r in a.reasons)


def test_allergy_intolerance_is_read_as_hypersensitivity():
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": SUBJECT,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "unconfirmed"}]},
        "code": {"coding": [{"system": RXNORM, "code": "6130", "display": "ketamine"}]},
    }
    k = status(bundle(allergy), "ketamine")
    assert k.status == "contraindicated" and rule_fired(k, "allergy to ketamines")
    refuted = allergy | {"verificationStatus": {"coding": [{"code": "refuted"}]}}
    assert not rule_fired(status(bundle(refuted), "ketamine"), "allergy to ketamines")


def test_no_allergy_resources_means_allergies_unknown():
    read = read_bundle(bundle(), as_of=AS_OF)
    assert read.facts.allergies is None
    assert any(
        "allergies" in m for m in screen(read.facts, as_of=AS_OF).agents["esketamine"].missing
    )


# -- robustness -------------------------------------------------------------------------------


@pytest.mark.parametrize(("born", "age"), [("1981", 44), ("1981-05", 45), ("1981-05-02", 45)])
def test_partial_birth_dates_give_the_youngest_possible_age(born, age):
    read = read_bundle(bundle(patient=PATIENT | {"birthDate": born}), as_of=AS_OF)
    assert read.facts.age_years == age
    if len(born) < 10:
        assert "partial" in read.facts.fact_sources["age_years"]


@pytest.mark.parametrize("born", ["1981-13", "81", "1981-02-30", 1981, "2030-01-01"])
def test_bad_birth_dates_are_reported_with_the_path(born):
    read = read_bundle(bundle(patient=PATIENT | {"birthDate": born}), as_of=AS_OF)
    assert read.facts.age_years is None
    assert any(p.startswith("entry[0].resource.birthDate") for p in read.problems)


def test_r4_only_and_unknown_resource_types_are_listed_not_fatal():
    b = bundle(
        {"resourceType": "EffectEvidenceSynthesis", "id": "e1", "status": "draft"},
        {"resourceType": "MedicinalProduct", "id": "mp1"},
        {"resourceType": "Encounter", "id": "enc", "status": "finished"},
    )
    read = read_bundle(b, as_of=AS_OF)
    assert any("EffectEvidenceSynthesis" in u for u in read.unused)
    assert any("MedicinalProduct" in u for u in read.unused)


def test_one_bad_element_is_reported_and_the_rest_is_read():
    bad = obs("2132-9", "not-a-date", interpretation=[{"coding": [{"code": "L"}]}])
    b = bundle(bad, condition("J93.11"), "not a resource")
    read = read_bundle(b, as_of=AS_OF)
    assert any("entry[1].resource.effectiveDateTime" in p for p in read.problems)
    assert any("entry[3]" in p for p in read.problems)
    assert screen(read.facts, as_of=AS_OF).agents["n2o"].status == "contraindicated"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"resourceType": "Patient"}, "bundle.resourceType"),
        ([], "bundle.entry"),
        ({"resourceType": "Bundle", "entry": []}, "bundle.entry"),
        ({"resourceType": "Bundle", "entry": "x"}, "bundle.entry"),
        ({"resourceType": "Bundle", "entry": [{"resource": PATIENT}] * 2}, "bundle.entry"),
    ],
)
def test_unreadable_input_names_the_element(data, field):
    with pytest.raises(FhirReadError) as e:
        read_bundle(data, as_of=AS_OF)
    assert e.value.field == field


def test_too_many_entries_is_refused():
    with pytest.raises(FhirReadError):
        read_bundle({"resourceType": "Bundle", "entry": [{}] * (MAX_ENTRIES + 1)}, as_of=AS_OF)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "code",
                    "coding",
                    "system",
                    "status",
                    "value",
                    "valueQuantity",
                    "text",
                    "effectiveDateTime",
                    "component",
                    "interpretation",
                    "clinicalStatus",
                    "verificationStatus",
                    "medicationReference",
                    "reference",
                    "subject",
                    "abatementDateTime",
                    "referenceRange",
                    "low",
                    "unit",
                    "contained",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        [
            "Condition",
            "Observation",
            "MedicationRequest",
            "MedicationStatement",
            "MedicationDispense",
            "MedicationAdministration",
            "AllergyIntolerance",
        ]
    ),
    st.dictionaries(
        st.sampled_from(
            [
                "code",
                "status",
                "subject",
                "patient",
                "component",
                "valueQuantity",
                "effectiveDateTime",
                "medicationCodeableConcept",
                "medicationReference",
                "clinicalStatus",
                "verificationStatus",
                "interpretation",
                "effectivePeriod",
                "whenHandedOver",
                "daysSupply",
                "abatementDateTime",
                "reaction",
                "referenceRange",
            ]
        ),
        JSONISH,
        max_size=6,
    ),
)
def test_any_shape_of_resource_is_read_or_reported_never_a_crash(kind, body):
    r = {"resourceType": kind, "id": "x"} | body
    read = read_bundle(bundle(r), as_of=AS_OF)
    screen(read.facts, as_of=AS_OF)  # and the facts it gives always screen


# -- scenarios in FHIR form, and the export round trip ----------------------------------------

SCENARIOS = yaml.safe_load((ROOT / "tests" / "clinical" / "screening_scenarios.yaml").read_text())


@pytest.mark.parametrize("case", SCENARIOS, ids=[c["name"] for c in SCENARIOS])
def test_scenario_from_fhir(case):
    """Every screening scenario gives the same statuses when its facts arrive as FHIR R4."""
    from tests.clinical.test_screening import scenario_facts

    facts = scenario_facts(case)
    age = facts.pop("age_years", None)
    sex = facts.pop("sex", None)
    stored = PatientFacts.parse(facts).model_dump(
        mode="json", exclude_none=True, exclude_defaults=True
    )
    if facts.get("allergies") == []:
        stored["allergies"] = []
    patient = {"research_id": "R-X", "facts": stored}
    resources = fhir_export.fact_resources(patient, f"{AS_OF.isoformat()}T08:00:00+00:00")
    pat = {"resourceType": "Patient", "id": "R-X"} | ({"gender": sex} if sex else {})
    if age is not None:
        pat["birthDate"] = date(AS_OF.year - age - 1, 12, 1).isoformat()
    read = read_bundle(bundle(*resources, patient=pat), as_of=AS_OF)
    assert not read.problems
    fhir = screen(read.facts, as_of=AS_OF)
    direct = screen(
        {**facts, "sex": sex, "age_years": age} if age is not None else {**facts, "sex": sex},
        as_of=AS_OF,
    )
    assert {a: fhir.agents[a].status for a in AGENTS} == {
        a: direct.agents[a].status for a in AGENTS
    }


def test_the_example_bundle():
    b = json.loads((ROOT / "examples" / "patient-bundle.json").read_text())
    read = read_bundle(b, as_of=date(2026, 11, 22))
    f = read.facts
    assert (f.sex, f.age_years, f.pregnant, f.b12_status) == ("female", 46, False, "low")
    assert (f.systolic_mmhg, f.diastolic_mmhg) == (142, 88)
    assert [c.status for c in f.conditions] == ["active", "history"]
    result = screen(f, as_of=date(2026, 11, 22))
    assert result.agents["n2o"].status == "contraindicated"
    assert result.agents["ketamine"].status == "caution"
    assert not any("Pneumothorax" in r.text for r in result.agents["n2o"].reasons)
    assert any("Observation/bp1" in u for u in read.used)


def test_reading_does_not_change_the_input():
    b = json.loads((ROOT / "examples" / "patient-bundle.json").read_text())
    before = copy.deepcopy(b)
    read_bundle(b, as_of=AS_OF)
    assert b == before
