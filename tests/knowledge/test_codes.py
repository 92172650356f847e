"""Coded concepts: every code is well formed for its system and every code source resolves."""

from __future__ import annotations

import copy
import re

import pytest

from raad.knowledge import load_sources
from raad.knowledge.sources import KnowledgeError
from raad.knowledge.treatment import (
    CODE_SYSTEMS,
    PREFIX_SYSTEMS,
    Antidepressants,
    Contraindications,
    _load,
    _validated,
    antidepressants,
    contraindications,
    normalise_code,
    parse_code,
)

CI = contraindications()
CONCEPTS = {**CI.conditions, **CI.medications}
CODES = [
    (name, code)
    for name, c in CONCEPTS.items()
    for code in (*c.codes, *getattr(c, "history_codes", ()))
]
# The syntax each system's codes must have in the data files (ICD-10 dotted after 3 chars;
# ATC groups by prefix, ATC substances exact).
SYNTAX = {
    "ICD-10-CM": r"ICD-10-CM[|=][A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?",
    "ICD-10": r"ICD-10[|=][A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,2})?",
    "ATC": r"ATC(\|[A-Z][0-9]{2}[A-Z]([A-Z]([0-9]{2})?)?|=[A-Z][0-9]{2}[A-Z]{2}[0-9]{2})",
    "RXNORM": r"RXNORM=[1-9][0-9]*",
    "SNOMED-CT": r"SNOMED-CT=[1-9][0-9]{5,17}",
}


@pytest.mark.parametrize(("name", "code"), CODES, ids=[f"{n}-{c}" for n, c in CODES])
def test_every_code_has_the_syntax_of_its_system(name, code):
    system = re.split(r"[|=]", code, maxsplit=1)[0]
    assert system in SYNTAX, f"{name}: unknown system in {code}"
    assert re.fullmatch(SYNTAX[system], code), f"{name}: {code} is not {SYNTAX[system]}"


def test_codes_are_used_and_unique_per_concept():
    systems = {parse_code(code).system for _, code in CODES}
    assert systems == {"ICD-10-CM", "ICD-10", "SNOMED-CT", "ATC", "RXNORM"}
    for name, c in CONCEPTS.items():
        assert len(set(c.code_refs)) == len(c.codes), name


def test_every_code_source_resolves_and_is_a_standard():
    reg = load_sources()
    assert set(CI.code_sources) == {"ICD-10-CM", "ICD-10", "SNOMED-CT", "ATC", "RXNORM"}
    for system, cites in CI.code_sources.items():
        assert cites, system
        for c in cites:
            assert reg.resolve(c.source).kind == "standard" and reg.resolve(c.source).url, c.source


def test_substance_codes_are_well_formed_and_cited():
    reg = load_sources()
    subs = antidepressants().substances
    assert {s.name for s in subs if s.rxnorm} >= {
        "sertraline",
        "escitalopram",
        "fluoxetine",
        "esketamine",
    }
    for s in subs:
        assert CODE_SYSTEMS["ATC"].fullmatch(s.atc), s.name
        if s.rxnorm:
            assert re.fullmatch(r"[1-9][0-9]*", s.rxnorm) and s.rxnorm_cite, s.name
            for c in s.rxnorm_cite:
                reg.resolve(c.source)


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("RXNORM|7052", "not hierarchical"),  # RxNorm ids are flat: prefix matching is refused
        ("ICD-10-CM|J9", "well-formed"),
        ("ICD-10-CM|J9311", "well-formed"),  # the data files write ICD-10-CM dotted
        ("ICD-10-CM|J93.1.1", "well-formed"),
        ("ATC|N0", "well-formed"),
        ("ATC|N07BC2", "well-formed"),
        ("RXNORM=07052", "well-formed"),
        ("ICD10|J93", "unknown system"),
        ("SNOMED-CT|22298006", "not hierarchical"),
        ("SNOMED-CT=0123", "well-formed"),
        ("J93", "SYSTEM|code"),
        ("ICD-10-CM J93", "SYSTEM|code"),
    ],
)
def test_malformed_codes_fail_at_load(code, why):
    raw = _load("contraindications.yaml")
    raw["conditions"]["pneumothorax"]["codes"] = [code]
    with pytest.raises(KnowledgeError, match=why):
        _validated(Contraindications, raw, "contraindications.yaml")


def test_duplicate_codes_fail_at_load():
    raw = _load("contraindications.yaml")
    raw["conditions"]["pneumothorax"]["codes"] = ["ICD-10-CM|J93", "ICD-10-CM|J93"]
    with pytest.raises(KnowledgeError, match="duplicate"):
        _validated(Contraindications, raw, "contraindications.yaml")


def test_unknown_code_source_fails_at_load():
    raw = _load("contraindications.yaml")
    raw["code_sources"]["ATC"] = [{"source": "no-such-atc-source"}]
    with pytest.raises(KnowledgeError, match="no-such-atc-source"):
        _validated(Contraindications, raw, "contraindications.yaml")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda cs: cs.pop("RXNORM"), "RXNORM codes need a code_sources entry"),
        (lambda cs: cs.update({"RXNORM": []}), "cite at least one source"),
        (lambda cs: cs.update({"LOINCX": [{"source": "cdc-icd10cm-2022"}]}), "unknown code system"),
        (lambda cs: cs.update({"ATC": [{"source": "who-atc-index-2026", "page": 1}]}), "page"),
    ],
)
def test_code_sources_are_strict(change, why):
    raw = _load("contraindications.yaml")
    change(raw["code_sources"])
    with pytest.raises(KnowledgeError, match=why):
        _validated(Contraindications, raw, "contraindications.yaml")


def test_unknown_keys_in_a_concept_fail_at_load():
    raw = _load("contraindications.yaml")
    raw["conditions"]["pneumothorax"]["icd10"] = ["J93"]
    with pytest.raises(KnowledgeError, match="icd10"):
        _validated(Contraindications, raw, "contraindications.yaml")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"rxnorm": "RX36437"}, "not an RxNorm"),
        ({"rxnorm_cite": []}, "together"),
        ({"rxnorm_cite": [{"source": "no-such-rxnorm-source"}]}, "no-such-rxnorm-source"),
        ({"atc": "N6AB06"}, "not an ATC"),
    ],
)
def test_substance_codes_are_strict(change, why):
    raw = _load("antidepressants.yaml")
    raw["substances"][0] = copy.deepcopy(raw["substances"][0]) | change
    with pytest.raises(KnowledgeError, match=why):
        _validated(Antidepressants, raw, "antidepressants.yaml")


def test_normalised_codes_ignore_dots_case_and_spaces():
    assert normalise_code(" j93.11 ") == normalise_code("J9311") == "J9311"
    assert parse_code("ICD-10-CM|J95.811") == ("ICD-10-CM", "J95811", False)
    assert parse_code("RXNORM=7052") == ("RXNORM", "7052", True)
    assert parse_code("ICD-10-CM=F32.9").exact
    assert {"ICD-10-CM", "ICD-10", "ATC"} == PREFIX_SYSTEMS


def test_every_value_set_code_has_a_display_and_a_source_that_resolves():
    import json
    from importlib import resources

    reg = load_sources()
    data = json.loads(
        resources.files("raad.knowledge").joinpath("value_sets.json").read_text("utf-8")
    )["concepts"]
    assert set(data) <= set(CI.conditions)
    n = 0
    for _concept, sets in data.items():
        for item in (*sets["codes"], *sets["history_codes"]):
            code, display, source = item[:3]
            parse_code(code)
            assert display.strip(), code
            reg.resolve(source)
            n += 1
    assert n > 1000  # SNOMED CT, WHO ICD-10 and ICD-10-CM for every concept that has codes


def test_guard_codes_stay_out_of_the_concepts_they_look_like():
    """Family history of stroke (ICD-10-CM Z82.3, SNOMED CT 275104002) and a negative pregnancy
    test (Z32.02, SNOMED CT 250425007) are not stroke or pregnancy."""
    stroke = {parse_code(c) for c in CI.conditions["cerebrovascular_event"].codes}
    pregnancy = {parse_code(c) for c in CI.conditions["pregnancy"].codes}
    assert ("SNOMED-CT", "275104002", True) not in stroke
    assert ("SNOMED-CT", "250425007", True) not in pregnancy
    assert not any("Z823".startswith(r.code) for r in stroke if r.system == "ICD-10-CM")
    assert not any("Z3202".startswith(r.code) for r in pregnancy if r.system == "ICD-10-CM")


def test_products_roll_up_to_known_substances():
    by_code = {p.code: p for p in CI.products}
    assert by_code["RXNORM=1483744"].ingredients == ("naltrexone",)  # naltrexone 50 MG tablet
    assert by_code["RXNORM=637216"].ingredients == ("naltrexone",)  # Vivitrol
    assert "esketamine" in by_code["RXNORM=2119387"].ingredients  # Spravato 28 MG device
    assert "oxycodone" in by_code["RXNORM=1049221"].ingredients  # oxycodone/APAP (Synthea)
    for p in CI.products:
        assert set(p.ingredients) <= set(CI.substances), p.code
