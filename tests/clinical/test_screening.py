"""Screening: scenarios, every rule, and the never-assume-normal properties."""

from __future__ import annotations

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
    "b12_status": "normal",
    "opioid_use": False,
    "systolic_mmhg": 120,
    "diastolic_mmhg": 75,
}
RANK = {"eligible": 0, "caution": 1, "contraindicated": 2}


@pytest.mark.parametrize("case", SCENARIOS, ids=[c["name"] for c in SCENARIOS])
def test_scenario(case):
    result = screen(case["facts"])
    for agent, status in case["expect"].items():
        assert result.agents[agent].status == status, result.agents[agent]
    for agent, source in (case.get("cites") or {}).items():
        assert any(source in r.sources for r in result.agents[agent].reasons)
    for agent, words in (case.get("missing") or {}).items():
        assert any(words in m for m in result.agents[agent].missing)


RULES = [
    (agent, rule) for agent, rules in contraindications().rules.items() for rule in rules.items
]


@pytest.mark.parametrize(("agent", "rule"), RULES, ids=[f"{a}-{r.when}" for a, r in RULES])
def test_every_rule_fires_from_its_first_alias(agent, rule):
    ci = contraindications()
    concept = ci.conditions.get(rule.when) or ci.medications[rule.when]
    field = "conditions" if rule.when in ci.conditions else "medications"
    result = screen(COMPLETE | {field: [concept.aliases[0]]})
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


ALIASES = [
    a
    for c in (*contraindications().conditions.values(), *contraindications().medications.values())
    for a in c.aliases
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(ALIASES), max_size=4), st.sampled_from(ALIASES))
def test_adding_a_condition_never_makes_an_agent_more_eligible(base, extra):
    before = screen(COMPLETE | {"conditions": base})
    after = screen(COMPLETE | {"conditions": [*base, extra]})
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
