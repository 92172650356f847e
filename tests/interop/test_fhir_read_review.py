"""Faults found by an adversarial review of the reader and the screening, each kept as a case
with the answer the label or the FHIR specification asks for."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from raad.clinical.screening import screen
from raad.interop.fhir_read import read_bundle

from .test_fhir_read import LOINC, PATIENT, RXNORM, SUBJECT, bp, bundle, condition, med, obs

AS_OF = date(2026, 11, 22)
WOMAN = PATIENT | {"gender": "female"}


def agents(b, as_of=AS_OF):
    read = read_bundle(b, as_of=as_of)
    return {a: s.status for a, s in screen(read.facts, as_of=as_of).agents.items()}, read


def reason(b, agent, rule, as_of=AS_OF):
    read = read_bundle(b, as_of=as_of)
    a = screen(read.facts, as_of=as_of).agents[agent]
    return [r for r in a.reasons if r.rule == rule]


def days_ago(n: int) -> str:
    return (AS_OF - timedelta(days=n)).isoformat()


def test_u1_a_long_list_is_screened_whole_never_dropped():
    many = [
        condition(text="Seasonal allergic rhinitis", clinical="resolved", id=f"c{i}")
        for i in range(5001)
    ]
    status, _ = agents(bundle(*many, condition("J93.11")))
    assert status["n2o"] == "contraindicated"


def test_u2_an_active_statement_dated_by_its_start_is_current():
    r = med(
        "MedicationStatement",
        "methadone 80 mg daily",
        status="active",
        effectiveDateTime="2025-01-01",
    )
    assert agents(bundle(r))[0]["naltrexone"] == "contraindicated"


def test_u3_an_opioid_from_2012_does_not_answer_current_opioid_use():
    old = med(
        "MedicationStatement", "oxycodone 5 mg", status="completed", effectiveDateTime="2012-03-01"
    )
    a = screen(read_bundle(bundle(old), as_of=AS_OF).facts, as_of=AS_OF).agents["naltrexone"]
    assert a.status == "caution" and any("current opioid use" in m for m in a.missing)


def test_u8_a_record_that_cannot_be_read_keeps_every_agent_from_eligible():
    r = med(
        "MedicationRequest",
        status="active",
        intent="order",
        medicationReference={"reference": "Medication/theo1"},
    )
    status, read = agents(bundle(r))
    assert set(status.values()) <= {"caution", "contraindicated"}
    assert read.facts.unread and "MedicationRequest" in read.facts.unread[0]


def test_u8_a_time_without_a_zone_does_not_drop_the_condition():
    c = condition("J93.11", onsetDateTime="2026-11-20T10:00:00")
    assert agents(bundle(c))[0]["n2o"] == "contraindicated"


def test_u4_a_hand_over_date_is_not_the_date_last_taken():
    r = med(
        "MedicationDispense",
        "oxycodone 5 mg tablet",
        status="completed",
        whenHandedOver=days_ago(12),
    )
    rs = reason(bundle(r), "naltrexone", "opioid")
    assert rs and rs[0].level == "missing"  # asked when it was last taken, never 'opioid-free'


def test_u4_a_completed_request_counts_to_the_end_of_its_supply():
    r = med(
        "MedicationRequest",
        "oxycodone 5 mg",
        status="completed",
        intent="order",
        authoredOn=days_ago(20),
        dispenseRequest={"expectedSupplyDuration": {"value": 30, "code": "d"}},
    )
    assert agents(bundle(r))[0]["naltrexone"] == "contraindicated"


def test_u5_a_monthly_buprenorphine_depot_is_never_read_as_stopped():
    r = med(
        "MedicationAdministration",
        status="completed",
        effectiveDateTime=days_ago(20),
        medicationCodeableConcept={"coding": [{"system": RXNORM, "code": "1996193"}]},
    )
    status, read = agents(bundle(r))
    assert status["naltrexone"] != "eligible"
    assert read.facts.medications[0].status == "unknown"


def test_u6_a_partial_onset_counts_from_its_latest_day():
    c = condition("I21.9", onsetDateTime="2026-10")  # 31 Oct is 22 days before 22 Nov
    assert agents(bundle(c))[0]["esketamine"] == "contraindicated"


@pytest.mark.parametrize(
    ("kw", "agent", "expected"),
    [
        (
            {
                "code": "I21.9",
                "onsetDateTime": "2026-11-01",
                "abatementDateTime": "2026-11-06",
                "clinical": "resolved",
            },
            "esketamine",
            "contraindicated",
        ),
        (
            {"code": "I63.9", "onsetDateTime": "2024-01-01", "clinical": "resolved"},
            "ketamine",
            "contraindicated",
        ),
        ({"code": "F20.9", "clinical": "remission"}, "esketamine", "caution"),
        ({"code": "F31.9", "clinical": "remission"}, "n2o", "caution"),
    ],
)
def test_u7_lasting_diseases_and_recent_events_count_when_resolved(kw, agent, expected):
    assert agents(bundle(condition(**kw)))[0][agent] == expected


def test_u10_an_unreadable_newest_reading_is_not_replaced_by_an_older_one():
    old = bp("85354-9", f"{days_ago(3)}T09:00:00Z", 120, 75)
    new = bp("85354-9", f"{days_ago(0)}T09:00:00Z", 196, None)
    _, read = agents(bundle(old, new))
    assert read.facts.systolic_mmhg is None
    assert "cannot be read" in read.facts.fact_notes["blood_pressure"]


def test_u11_same_day_readings_that_disagree_give_the_safer_one():
    hcg = obs("2118-8", days_ago(1), valueCodeableConcept={"text": "Positive"})
    said = obs(
        "82810-3",
        f"{days_ago(1)}T08:00:00-05:00",
        valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA26683-5"}]},
    )
    for order in ((hcg, said), (said, hcg)):
        _, read = agents(bundle(*order, patient=WOMAN))
        assert read.facts.pregnant is True


def test_u11_blood_pressures_at_the_same_instant_give_the_higher_values():
    t = f"{days_ago(0)}T09:00:00Z"
    for order in (
        (bp("85354-9", t, 200, 115), bp("85354-9", t, 120, 75)),
        (bp("85354-9", t, 120, 75), bp("85354-9", t, 200, 115)),
    ):
        _, read = agents(bundle(*order))
        assert (read.facts.systolic_mmhg, read.facts.diastolic_mmhg) == (200, 115)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": LOINC, "code": "LA4489-6", "display": "Unknown"}]
                }
            },
            None,
        ),
        ({"valueString": "Not asked"}, None),
        ({"valueString": "Yes - nursing now, pumps at night"}, True),
        ({"valueString": "No"}, False),
    ],
)
def test_u12_breastfeeding_answers_are_read_as_whole_words(value, expected):
    _, read = agents(bundle(obs("63895-7", days_ago(0), **value), patient=WOMAN))
    assert read.facts.breastfeeding is expected


@pytest.mark.parametrize(
    ("text", "agent", "expected"),
    [
        ("Pneumothorax not ruled out", "n2o", "contraindicated"),
        ("Opioid dependence, not in remission", "naltrexone", "contraindicated"),
        ("Abdominal aortic aneurysm, repair declined", "esketamine", "contraindicated"),
        (
            "History of abdominal aortic aneurysm (4.8 cm, under surveillance)",
            "esketamine",
            "contraindicated",
        ),
        ("Prior stroke with residual left hemiparesis", "ketamine", "contraindicated"),
        ("History of heart failure (HFrEF, EF 30%)", "n2o", "contraindicated"),
    ],
)
def test_u13_free_text_is_read_in_context(text, agent, expected):
    assert agents(bundle(condition(text=text)))[0][agent] == expected


def test_u13_rh_negative_does_not_negate_pregnancy():
    rs = reason(bundle(condition(text="Pregnant, Rh negative"), patient=WOMAN), "n2o", "pregnancy")
    assert rs and rs[0].level == "caution"


@pytest.mark.parametrize(
    "ref", ["Patient/p1/_history/3", "https://ehr.example.org/fhir/Patient/p1"]
)
def test_u9_versioned_and_absolute_references_are_the_patient(ref):
    assert (
        agents(bundle(condition("J93.11", subject={"reference": ref})))[0]["n2o"]
        == "contraindicated"
    )


def test_u9_a_subject_known_only_by_another_patients_identifier_is_refused():
    c = condition("J93.11", subject={"identifier": {"system": "urn:x:mrn", "value": "OTHER"}})
    status, read = agents(bundle(c))
    assert status["n2o"] != "contraindicated" and any("refused" in u for u in read.unused)


def test_u19_a_withdrawn_allergy_leaves_allergies_unknown():
    a = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": SUBJECT,
        "verificationStatus": {"coding": [{"code": "entered-in-error"}]},
        "code": {"text": "ketamine"},
    }
    _, read = agents(bundle(a))
    assert read.facts.allergies is None


def test_u20_a_vivitrol_injection_known_only_by_its_code_acts_28_days():
    r = med(
        "MedicationAdministration",
        status="completed",
        effectiveDateTime=days_ago(10),
        medicationCodeableConcept={"coding": [{"system": RXNORM, "code": "637216"}]},
    )
    assert reason(bundle(r), "ketamine", "naltrexone")


def test_u21_relapse_wins_over_an_old_abatement():
    c = condition("F11.20", clinical="relapse", abatementDateTime="2019-01-01")
    assert agents(bundle(c))[0]["naltrexone"] == "contraindicated"


def test_u22_a_b12_below_a_bound_above_the_range_is_undecided():
    r = obs(
        "2132-9",
        days_ago(1),
        valueQuantity={"value": 250, "comparator": "<", "unit": "pg/mL", "code": "pg/mL"},
        referenceRange=[{"low": {"value": 200, "unit": "pg/mL"}}],
    )
    _, read = agents(bundle(r))
    assert read.facts.b12_status is None


@pytest.mark.parametrize(("s", "d"), [(0, 0), (45, 30), (120, 180)])
def test_c1_an_implausible_blood_pressure_is_listed_and_the_screen_goes_on(s, d):
    status, read = agents(
        bundle(bp("85354-9", f"{days_ago(0)}T09:00:00Z", s, d), condition("J93.11"))
    )
    assert status["n2o"] == "contraindicated" and read.facts.systolic_mmhg is None
    assert any("implausible" in p for p in read.problems)


def test_w1_an_order_not_to_give_a_drug_is_not_use():
    r = med(
        "MedicationRequest", "oxycodone 5 mg", status="active", intent="order", doNotPerform=True
    )
    assert not reason(bundle(r), "naltrexone", "opioid")


@pytest.mark.parametrize("text", ["No known allergies", "No Known Drug Allergies", "NKDA"])
def test_w2_no_known_allergies_is_read_as_none(text):
    a = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": SUBJECT,
        "code": {"text": text},
    }
    _, read = agents(bundle(a))
    assert read.facts.allergies == []


def test_brand_names_reach_their_substances():
    for text, agent in (
        ("Percocet 5/325", "naltrexone"),
        ("Suboxone film", "naltrexone"),
        ("Klonopin 0.5 mg", "ketamine"),
    ):
        status, _ = agents(bundle(med("MedicationStatement", text, status="active")))
        assert status[agent] != "eligible", text


def test_facts_recorded_long_ago_age_out_of_the_screen():
    """A stored fact carries its date and counts only inside its window (registry facts)."""
    facts = {
        "sex": "female",
        "age_years": 30,
        "allergies": [],
        "b12_status": "normal",
        "opioid_use": False,
        "pregnant": False,
        "systolic_mmhg": 120,
        "diastolic_mmhg": 75,
        "fact_dates": {
            "pregnant": "2026-11-20",
            "systolic_mmhg": "2026-11-20",
            "diastolic_mmhg": "2026-11-20",
        },
    }
    assert screen(facts, as_of=date(2026, 11, 22)).agents["ketamine"].status == "eligible"
    later = screen(facts, as_of=date(2027, 1, 5)).agents["ketamine"]
    assert later.status == "caution"
    assert any("2026-11-20" in m for m in later.missing)


def test_a_deceased_patient_is_never_eligible():
    dead = PATIENT | {"deceasedDateTime": "2005-11-11"}
    status, read = agents(bundle(patient=dead))
    assert set(status.values()) == {"contraindicated"}
    assert read.facts.deceased == "2005-11-11"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_value_that_is_not_a_finite_number_is_never_read(bad):
    """JSON NaN and Infinity parse in Python; a B12 of NaN must not compare as 'normal'."""
    r = obs(
        "2132-9",
        days_ago(1),
        valueQuantity={"value": bad, "unit": "pg/mL", "code": "pg/mL"},
        referenceRange=[{"low": {"value": 200, "unit": "pg/mL"}}],
    )
    _, read = agents(bundle(r))
    assert read.facts.b12_status is None and any("finite" in p for p in read.problems)
