"""Screening from coded entries (ICD-10-CM, ATC, RxNorm): matches, near misses, FHIR input."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raad.clinical.screening import screen
from raad.interop.fhir_facts import SYSTEMS, facts_from_bundle
from raad.knowledge.treatment import contraindications, parse_code

COMPLETE = {
    "sex": "male",
    "b12_status": "normal",
    "opioid_use": False,
    "systolic_mmhg": 120,
    "diastolic_mmhg": 75,
}
RANK = {"eligible": 0, "caution": 1, "contraindicated": 2}
CI = contraindications()


def coded(field: str, system: str, code: str):
    return screen(COMPLETE | {field: [{"system": system, "code": code}]})


def reasons(result, agent: str) -> set[str]:
    return {r.text for r in result.agents[agent].reasons}


def rule_reason(agent: str, when: str) -> str:
    return next(r.reason for r in CI.rules[agent].items if r.when == when)


def test_code_systems_are_named_as_fhir_input_names_them():
    used = {
        ref.system
        for c in (*CI.conditions.values(), *CI.medications.values())
        for ref in c.code_refs
    }
    assert used <= set(SYSTEMS.values())
    assert SYSTEMS["http://hl7.org/fhir/sid/icd-10-cm"] == "ICD-10-CM"
    assert SYSTEMS["http://www.whocc.no/atc"] == "ATC"
    assert SYSTEMS["http://www.nlm.nih.gov/research/umls/rxnorm"] == "RXNORM"


@pytest.mark.parametrize(
    "code", ["J93.11", "J9311", "j93.11", " J93.11 ", "S27.0XXA", "S270XXA", "J95.811"]
)
def test_icd10cm_pneumothorax_contraindicates_n2o_dotted_or_not(code):
    result = coded("conditions", "ICD-10-CM", code)
    assert result.agents["n2o"].status == "contraindicated"
    assert rule_reason("n2o", "pneumothorax") in reasons(result, "n2o")
    assert not result.unrecognised


@pytest.mark.parametrize(
    ("field", "system", "code", "agent", "when"),
    [
        ("medications", "ATC", "N07BC02", "naltrexone", "opioid"),  # methadone: outside N02A
        ("medications", "ATC", "N07BC02", "naltrexone", "opioid_maintenance"),
        ("medications", "ATC", "R05DA04", "naltrexone", "opioid"),  # codeine: outside N02A
        ("medications", "ATC", "N02AA05", "naltrexone", "opioid"),  # oxycodone, by the N02A group
        ("medications", "ATC", "N02AA05", "ketamine", "cns_depressant"),
        ("medications", "ATC", "N03AE01", "ketamine", "cns_depressant"),  # clonazepam
        ("medications", "ATC", "N05CF02", "esketamine", "cns_depressant"),  # zolpidem
        ("medications", "ATC", "N06AX27", "naltrexone", "ketamine"),  # esketamine (Spravato)
        ("medications", "ATC", "N01AX14", "naltrexone", "ketamine"),  # esketamine (anaesthetic)
        ("medications", "ATC", "N01AX03", "naltrexone", "ketamine"),
        ("medications", "ATC", "L04AX03", "n2o", "methotrexate"),
        ("medications", "RXNORM", "7243", "ketamine", "naltrexone"),  # naltrexone ingredient
        ("medications", "RXNORM", "7243", "esketamine", "naltrexone"),
        ("medications", "RxNorm", "7243", "ketamine", "naltrexone"),  # system names are case-blind
        ("medications", "RXNORM", "6813", "naltrexone", "opioid_maintenance"),  # methadone
        ("medications", "RXNORM", "2119365", "naltrexone", "ketamine"),  # esketamine
        ("medications", "RXNORM", "10438", "ketamine", "theophylline"),
        ("conditions", "ICD-10-CM", "H68.13", "n2o", "middle_ear_obstruction"),
        ("conditions", "ICD-10-CM", "H69.83", "n2o", "middle_ear_obstruction"),
        ("conditions", "ICD-10-CM", "E53.8", "n2o", "b12_deficiency"),
        ("conditions", "ICD-10-CM", "E53.8", "n2o", "folate_deficiency"),
        ("conditions", "ICD-10-CM", "Z3A.20", "n2o", "pregnancy"),
        ("conditions", "ICD-10-CM", "F11.20", "naltrexone", "opioid_dependence"),
        ("conditions", "ICD-10-CM", "F11.23", "naltrexone", "opioid_withdrawal"),
        ("conditions", "ICD-10-CM", "F1123", "naltrexone", "opioid_withdrawal"),
        ("conditions", "ICD-10-CM", "I67.1", "esketamine", "aneurysmal_vascular_disease"),
        ("conditions", "ICD-10-CM", "Z86.73", "ketamine", "cerebrovascular_event"),
    ],
)
def test_coded_entries_fire_their_rule(field, system, code, agent, when):
    result = coded(field, system, code)
    rule = next(r for r in CI.rules[agent].items if r.when == when)
    assert rule.reason in reasons(result, agent)
    assert RANK[result.agents[agent].status] >= RANK[rule.level]
    assert not result.unrecognised


@pytest.mark.parametrize(
    ("field", "system", "code"),
    [
        ("conditions", "ICD-10-CM", "H69.0"),  # patulous Eustachian tube: not an obstruction
        ("conditions", "ICD-10-CM", "H69.00"),
        ("conditions", "ICD-10-CM", "H69"),  # the category alone is not one of its listed codes
        ("conditions", "ICD-10-CM", "F32.81"),  # premenstrual dysphoric disorder
        ("conditions", "ICD-10-CM", "F32.A"),
        ("conditions", "ICD-10-CM", "J43.9"),  # emphysema NOS: not taken as bullous emphysema
        ("conditions", "ICD-10-CM", "F17"),  # nicotine dependence is not a substance use rule
        ("conditions", "ICD-10-CM", "O92"),  # lactation disorders include agalactia
        ("conditions", "ICD-10-CM", "I10"),  # hypertension, not known to be uncontrolled
        ("conditions", "ICD-10-CM", "E72.1"),  # the parent of homocystinuria
        ("conditions", "ICD-10-CM", "Q28.3"),
        ("conditions", "ICD-10-CM", "J9"),  # shorter than any code
        ("conditions", "ATC", "J93.11"),  # right code, wrong system
        ("medications", "RXNORM", "70"),  # RxNorm is exact: 70 is not 7052 (morphine)
        ("medications", "RXNORM", "70520"),
        ("medications", "RXNORM", "724"),
        ("medications", "ICD-10-CM", "7052"),
        ("medications", "ATC", "N02"),  # shorter than the N02A group
        ("medications", "ATC", "N07BC"),  # the whole 'drugs used in opioid dependence' group
        ("medications", "ATC", "N06AB06"),  # sertraline
        ("medications", "SNOMED-CT", "7052"),
    ],
)
def test_near_misses_do_not_match(field, system, code):
    result = coded(field, system, code)
    assert len(result.unrecognised) == 1, result.unrecognised
    full = screen(COMPLETE)
    for agent in result.agents:
        assert result.agents[agent].status == full.agents[agent].status


CODED_RULES = [
    (agent, rule, code)
    for agent, rules in CI.rules.items()
    for rule in rules.items
    for code in (CI.conditions.get(rule.when) or CI.medications[rule.when]).codes
]


@pytest.mark.parametrize(
    ("agent", "rule", "code"), CODED_RULES, ids=[f"{a}-{r.when}-{c}" for a, r, c in CODED_RULES]
)
def test_every_rule_fires_from_each_of_its_codes(agent, rule, code):
    field = "conditions" if rule.when in CI.conditions else "medications"
    ref = parse_code(code)
    written = code.split("|" if "|" in code else "=", 1)[1]
    forms = {written, written.replace(".", ""), written.lower()}
    if not ref.exact:
        forms.add(written + ("X" if ref.system == "ICD-10-CM" else ""))
    for form in forms:
        result = coded(field, ref.system, form)
        assert rule.reason in reasons(result, agent), form
        assert RANK[result.agents[agent].status] >= RANK[rule.level]


PREFIXES = [
    ref
    for c in (*CI.conditions.values(), *CI.medications.values())
    for ref in c.code_refs
    if not ref.exact
]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PREFIXES), st.text("0123456789ABXZ", max_size=4))
def test_codes_below_a_prefix_code_match_it(ref, tail):
    field_of = {n: "conditions" for n in CI.conditions} | {n: "medications" for n in CI.medications}
    names = {n for n, c in {**CI.conditions, **CI.medications}.items() if ref in c.code_refs}
    for name in names:
        result = coded(field_of[name], ref.system, ref.code + tail)
        for agent, rules in CI.rules.items():
            for rule in rules.items:
                if rule.when == name:
                    assert rule.reason in reasons(result, agent)


def _bundle(*resources):
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": r}
            for r in (
                {
                    "resourceType": "Patient",
                    "id": "p1",
                    "gender": "male",
                    "birthDate": "1980-05-02",
                },
                *resources,
            )
        ],
    }


def test_coded_fhir_bundle_is_screened_by_code():
    bundle = _bundle(
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J93.11"}]},
        },
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7243"}
                ]
            },
        },
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.whocc.no/atc", "code": "N07BC02"}]
            },
        },
    )
    result = screen(facts_from_bundle(bundle, as_of=date(2026, 1, 1)).facts)
    assert not result.unrecognised
    assert rule_reason("n2o", "pneumothorax") in reasons(result, "n2o")
    assert rule_reason("ketamine", "naltrexone") in reasons(result, "ketamine")
    assert result.agents["naltrexone"].status == "contraindicated"
    assert rule_reason("naltrexone", "opioid_maintenance") in reasons(result, "naltrexone")


def test_patulous_eustachian_tube_from_fhir_is_reported_not_matched():
    bundle = _bundle(
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "H69.0"}]},
        }
    )
    result = screen(facts_from_bundle(bundle, as_of=date(2026, 1, 1)).facts)
    assert result.unrecognised == ("[ICD-10-CM|H69.0]",)
    assert rule_reason("n2o", "middle_ear_obstruction") not in reasons(result, "n2o")
