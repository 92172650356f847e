"""Screening from coded entries (ICD-10-CM, ATC, RxNorm, SNOMED CT): matches, near misses,
FHIR input, and the same answer from a drug's name and from each of its codes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raad.clinical.facts import Entry
from raad.clinical.screening import entry_concepts, screen
from raad.interop.fhir_read import read_bundle
from raad.knowledge.codes import SYSTEM_URIS, system_name
from raad.knowledge.treatment import contraindications, parse_code

COMPLETE = {
    "sex": "male",
    "age_years": 40,
    "allergies": [],
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
    used = {ref.system for _, refs in CI.all_code_refs() for ref in refs}
    assert used <= set(SYSTEM_URIS)
    assert system_name("http://hl7.org/fhir/sid/icd-10-cm") == "ICD-10-CM"
    assert system_name("http://www.whocc.no/atc") == "ATC"
    assert system_name("http://www.nlm.nih.gov/research/umls/rxnorm") == "RXNORM"
    assert system_name("http://snomed.info/sct") == "SNOMED-CT"
    assert system_name("RxNorm") == "RXNORM" and system_name("urn:oid:1.2.3") is None


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
        ("medications", "ATC", "N06AX27", "naltrexone", "ketamines"),  # esketamine (Spravato)
        ("medications", "ATC", "N01AX14", "naltrexone", "ketamines"),  # esketamine (anaesthetic)
        ("medications", "ATC", "N01AX03", "naltrexone", "ketamines"),
        ("medications", "ATC", "N06AF03", "esketamine", "maoi"),  # phenelzine
        ("medications", "ATC", "N06BA04", "esketamine", "psychostimulant"),  # methylphenidate
        ("medications", "ATC", "N05AH04", "esketamine", "cns_depressant"),  # quetiapine
        ("medications", "ATC", "L04AX03", "n2o", "methotrexate"),
        ("medications", "RXNORM", "7243", "ketamine", "naltrexone"),  # naltrexone ingredient
        ("medications", "RXNORM", "7243", "esketamine", "naltrexone"),
        ("medications", "RxNorm", "7243", "ketamine", "naltrexone"),  # system names are case-blind
        ("medications", "RXNORM", "6813", "naltrexone", "opioid_maintenance"),  # methadone
        ("medications", "RXNORM", "2119365", "naltrexone", "ketamines"),  # esketamine
        ("medications", "RXNORM", "10438", "ketamine", "xanthine"),
        ("medications", "RXNORM", "10689", "ketamine", "cns_depressant"),  # tramadol
        ("conditions", "ICD-10-CM", "Z79.891", "naltrexone", "opioid_use_long_term"),
        ("conditions", "ICD-10-CM", "I60.9", "esketamine", "subarachnoid_hemorrhage"),
        ("conditions", "ICD-10-CM", "Q27.30", "esketamine", "avm"),
        ("conditions", "ICD-10-CM", "I50.9", "n2o", "heart_failure"),
        ("conditions", "ICD-10-CM", "F32.3", "esketamine", "psychosis"),
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
        ("medications", "ATC", "N07BC04"),  # lofexidine: in that group, not an opioid
        ("conditions", "ICD-10-CM", "Z82.3"),  # family history of stroke is not a stroke
        ("conditions", "ICD-10-CM", "Z32.02"),  # pregnancy test, result negative
        ("conditions", "ICD-10-CM", "K59.03"),  # drug-induced (e.g. opioid) constipation
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


def codes_of(name: str) -> list[str]:
    """A concept's codes and, for a class, every member's and included class's codes."""
    if name in CI.conditions:
        return list(CI.conditions[name].codes)
    if name in CI.substances:
        return list(CI.substances[name].codes)
    cls = CI.classes[name]
    out = list(cls.codes)
    for m in cls.members:
        out += codes_of(m)
    for i in cls.includes:
        out += codes_of(i)
    return list(dict.fromkeys(out))


def fires_on_a_plain_entry(rule) -> bool:
    statuses = set(rule.statuses or ("active", "current"))
    return rule.when is not None and rule.within_days is None and statuses & {"active", "current"}


CODED_RULES = [
    (agent, rule, code)
    for agent, rules in CI.rules.items()
    for rule in rules.items
    if fires_on_a_plain_entry(rule)
    for code in codes_of(rule.when)
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
        forms.add(written + ("X" if ref.system in ("ICD-10-CM", "ICD-10") else ""))
    for form in forms:
        result = coded(field, ref.system, form)
        assert rule.reason in reasons(result, agent), form
        assert RANK[result.agents[agent].status] >= RANK[rule.level]


SUBSTANCE_FORMS = [
    (name, form)
    for name, s in CI.substances.items()
    for form in (*[("text", n) for n in s.names], *[("code", c) for c in s.codes])
]


@pytest.mark.parametrize(
    ("name", "form"), SUBSTANCE_FORMS, ids=[f"{n}-{f[1]}" for n, f in SUBSTANCE_FORMS]
)
def test_a_drug_reaches_the_same_concepts_by_each_name_and_code(name, form):
    """Text and codes for the same drug always give the same answer (issue: 'tramadol' typed
    as text screened differently from its RxNorm code); a brand name of a combination product
    reaches every substance in it."""
    expected = entry_concepts(Entry(text=CI.substances[name].names[0]), "medication")
    if form[0] == "text":
        # a brand name of a combination product reaches each of its substances
        got = entry_concepts(Entry(text=form[1]), "medication")
        assert expected <= got and name in got
    else:
        ref = parse_code(form[1])
        got = entry_concepts(Entry(system=ref.system, code=ref.code), "medication")
        assert got == expected and name in got


def test_atc_groups_hold_only_members_of_their_class():
    """A substance whose ATC code falls in a class's ATC group is a member of that class, so a
    group code and the substance's own name never disagree."""
    for cname, cls in CI.classes.items():
        groups = [r for r in cls.code_refs if not r.exact]
        for sname, s in CI.substances.items():
            for ref in s.code_refs:
                if ref.system == "ATC" and any(ref.code.startswith(g.code) for g in groups):
                    assert cname in entry_concepts(Entry(text=s.names[0]), "medication"), (
                        f"{sname} ({ref.code}) is in {cname}'s ATC group but not in the class"
                    )


def test_opioid_dependence_in_remission_is_history_not_current():
    result = coded("conditions", "ICD-10-CM", "F11.21")
    assert not result.unrecognised
    assert rule_reason("naltrexone", "opioid_dependence") not in reasons(result, "naltrexone")
    active = coded("conditions", "ICD-10-CM", "F11.20")
    assert rule_reason("naltrexone", "opioid_dependence") in reasons(active, "naltrexone")


PREFIXES = [ref for _, refs in CI.all_code_refs() for ref in refs if not ref.exact]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PREFIXES), st.text("0123456789ABXZ", max_size=4))
def test_codes_below_a_prefix_code_match_it(ref, tail):
    field_of = {n: "conditions" for n in CI.conditions} | {n: "medications" for n in CI.medications}
    names = {n for n, c in {**CI.conditions, **CI.medications}.items() if ref in c.code_refs}
    for name in names:
        result = coded(field_of[name], ref.system, ref.code + tail)
        for agent, rules in CI.rules.items():
            for rule in rules.items:
                if rule.when == name and fires_on_a_plain_entry(rule):
                    more_specific = (
                        any(
                            h.code.startswith(ref.code) and (ref.code + tail).startswith(h.code)
                            for h in CI.conditions[name].history_refs
                        )
                        if name in CI.conditions
                        else False
                    )
                    if not more_specific:
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
    result = screen(read_bundle(bundle, as_of=date(2026, 1, 1)).facts)
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
    result = screen(read_bundle(bundle, as_of=date(2026, 1, 1)).facts)
    assert len(result.unrecognised) == 1 and "H69.0" in result.unrecognised[0]
    assert rule_reason("n2o", "middle_ear_obstruction") not in reasons(result, "n2o")
