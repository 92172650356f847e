"""Screening: scenarios, every rule, and the never-assume-normal properties."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from raad.clinical.errors import ClinicalInputError
from raad.clinical.screening import AGENTS, screen
from raad.knowledge.treatment import contraindications

SCENARIOS = yaml.safe_load((Path(__file__).parent / "screening_scenarios.yaml").read_text())
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


BASE = {
    "sex": "female",
    "age_years": 30,
    "pregnant": False,
    "breastfeeding": False,
    "allergies": [],
    "b12_status": "normal",
    "opioid_use": False,
    "systolic_mmhg": 120,
    "diastolic_mmhg": 75,
}
AS_OF = date(2026, 11, 30)


def scenario_facts(case: dict) -> dict:
    facts = {k: v for k, v in BASE.items() if k not in case.get("drop", [])}
    return facts | case.get("add", {})


@pytest.mark.parametrize("case", SCENARIOS, ids=[c["name"] for c in SCENARIOS])
def test_scenario(case):
    result = screen(scenario_facts(case), as_of=AS_OF)
    expect = {a: "eligible" for a in AGENTS} | case["expect"]
    got = {a: result.agents[a].status for a in AGENTS}
    assert got == expect, [r for a in AGENTS for r in result.agents[a].reasons]
    for agent, source in (case.get("cites") or {}).items():
        assert any(source in r.sources for r in result.agents[agent].reasons), agent
    for agent, words in (case.get("missing") or {}).items():
        assert any(words in m for m in result.agents[agent].missing), result.agents[agent].missing


RULES = [
    (agent, rule) for agent, rules in contraindications().rules.items() for rule in rules.items
]


def _first_alias(name: str) -> tuple[str, str]:
    ci = contraindications()
    if name in ci.conditions:
        return "conditions", ci.conditions[name].aliases[0]
    if name in ci.substances:
        return "medications", ci.substances[name].names[0]
    cls = ci.classes[name]
    if cls.aliases:
        return "medications", cls.aliases[0]
    return _first_alias(cls.members[0] if cls.members else cls.includes[0])


@pytest.mark.parametrize(("agent", "rule"), RULES, ids=[f"{a}-{r.trigger}" for a, r in RULES])
def test_every_rule_fires_from_its_first_alias(agent, rule):
    """Each rule fires on the plain-text form of its concept (an allergy, an age, a condition
    with the status and onset it needs) at its level, citing exactly its sources."""
    if rule.age_below is not None:
        facts = COMPLETE | {"age_years": rule.age_below - 1}
    elif rule.age_at_least is not None:
        facts = COMPLETE | {"age_years": rule.age_at_least}
    elif rule.allergy_to is not None:
        facts = COMPLETE | {"allergies": [_first_alias(rule.allergy_to)[1]]}
    else:
        field, alias = _first_alias(rule.when)
        statuses = rule.statuses or ()
        entry = {"text": alias}
        if statuses and not ({"active", "current"} & set(statuses)):
            entry["status"] = statuses[0]
        if rule.within_days is not None:
            entry["date"] = "2026-11-20"
        facts = COMPLETE | {field: [entry]}
    result = screen(facts, as_of=date(2026, 11, 30))
    reasons = [r for r in result.agents[agent].reasons if r.text == rule.reason]
    assert reasons and reasons[0].level == rule.level
    assert set(reasons[0].sources) == {c.source for c in rule.cite}
    assert RANK[result.agents[agent].status] >= RANK[rule.level]


def test_unrecognised_entries_are_reported_not_dropped():
    result = screen(COMPLETE | {"conditions": ["hay fever"], "medications": ["sertraline"]})
    assert result.unrecognised == ("hay fever", "sertraline")


def test_json_shape_for_the_cli():
    d = screen(COMPLETE).to_dict()
    assert set(d["agents"]) == set(AGENTS)
    for a in d["agents"].values():
        assert (
            a["status"] in RANK
            and isinstance(a["reasons"], list)
            and isinstance(a["missing"], list)
        )


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        ({"systolic_mmhg": 400, "diastolic_mmhg": 20}, "blood_pressure.systolic"),
        ({"systolic_mmhg": 120}, "systolic_mmhg/diastolic_mmhg"),
        ({"age_years": -3}, "age_years"),
        ({"b12_status": "fine"}, "b12_status"),
        ({"conditions": [{"txt": "x"}]}, "conditions.0.Entry.txt"),
        ({"weight": 70}, "weight"),
    ],
)
def test_bad_facts_name_the_field(facts, field):
    with pytest.raises(ClinicalInputError) as exc:
        screen(facts)
    assert exc.value.field.startswith(field.split(".")[0])


ALIASES = [a for c in contraindications().conditions.values() for a in c.aliases]
DRUG_NAMES = [n for s in contraindications().substances.values() for n in s.names] + [
    a for c in contraindications().classes.values() for a in c.aliases
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(ALIASES), max_size=4), st.sampled_from(ALIASES))
def test_adding_a_condition_never_makes_an_agent_more_eligible(base, extra):
    before = screen(COMPLETE | {"conditions": base})
    after = screen(COMPLETE | {"conditions": [*base, extra]})
    for agent in AGENTS:
        assert RANK[after.agents[agent].status] >= RANK[before.agents[agent].status]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(DRUG_NAMES), max_size=3),
    st.sampled_from(DRUG_NAMES),
    st.sampled_from(["medications", "allergies"]),
    st.sampled_from(["current", "recent", "unknown", None]),
)
def test_adding_a_medicine_or_allergy_never_makes_an_agent_more_eligible(
    base, extra, field, status
):
    entry = (
        {"text": extra}
        if status is None or field == "allergies"
        else {"text": extra, "status": status}
    )
    before = screen(COMPLETE | {"medications": base})
    after = screen(
        COMPLETE
        | {"medications": base}
        | {field: [*(COMPLETE | {"medications": base})[field], entry]}
    )
    for agent in AGENTS:
        assert RANK[after.agents[agent].status] >= RANK[before.agents[agent].status]


@settings(max_examples=100, deadline=None)
@given(st.sets(st.sampled_from(sorted(COMPLETE)), min_size=1))
def test_missing_facts_are_never_treated_as_normal(dropped):
    facts = {k: v for k, v in COMPLETE.items() if k not in dropped}
    if "systolic_mmhg" in dropped or "diastolic_mmhg" in dropped:
        facts.pop("systolic_mmhg", None)
        facts.pop("diastolic_mmhg", None)
    result = screen(facts)
    full = screen(COMPLETE)
    for agent in AGENTS:
        assert RANK[result.agents[agent].status] >= RANK[full.agents[agent].status]
        if result.agents[agent].missing:
            assert result.agents[agent].status != "eligible"
