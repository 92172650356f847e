"""Session safety scenarios (tests/clinical/scenarios.yaml) and input checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from raad import scales
from raad.clinical.errors import ClinicalInputError
from raad.clinical.protocols import plan_course
from raad.clinical.safety import (
    BloodPressure,
    PlannedDose,
    SessionRecord,
    check_session,
    earliest_discharge,
    labelled_doses,
)

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
SCENARIOS = yaml.safe_load((Path(__file__).parent / "scenarios.yaml").read_text())


def record(spec: dict) -> SessionRecord:
    spec = dict(spec)
    at = T0 + timedelta(hours=spec.pop("at_h"))
    for key in ("bp_pre", "bp_post"):
        if key in spec:
            spec[key] = BloodPressure(*spec[key])
    if "phq9" in spec:
        values = spec.pop("phq9")
        spec["scores"] = (scales.score("PHQ-9", {str(i + 1): v for i, v in enumerate(values)}),)
    for key in ("adverse_events", "unresolved"):
        if key in spec:
            spec[key] = tuple(spec[key])
    return SessionRecord(start=at, **spec)


@pytest.mark.parametrize("case", SCENARIOS, ids=[c["name"] for c in SCENARIOS])
def test_scenario(case):
    history = tuple(record(h) for h in case.get("history", []))
    report = check_session(record(case["record"]), history)
    by_code = {a.code: a for a in report.alerts}
    for code, source in (case.get("expect") or {}).items():
        assert code in by_code, f"{code} not raised: {report.codes()}"
        assert source in by_code[code].sources
        assert by_code[code].message
    for code in case.get("not", []):
        assert code not in by_code
    if "discharge_blocked" in case:
        assert report.discharge_blocked is case["discharge_blocked"]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: BloodPressure(400, 20), "blood_pressure.systolic"),
        (lambda: BloodPressure(120, 130), "blood_pressure"),
        (lambda: BloodPressure(120, "80"), "blood_pressure.diastolic"),
        (lambda: SessionRecord("n2o", T0, n2o_fraction=0.8), "n2o_fraction"),
        (lambda: SessionRecord("n2o", T0, duration_min=-5), "duration_min"),
        (lambda: SessionRecord("ketamine", T0, dose_mg=-1), "dose_mg"),
        (lambda: SessionRecord("ketamine", T0, n2o_fraction=0.5), "n2o_fraction"),
        (lambda: SessionRecord("psilocybin", T0), "agent"),
        (lambda: SessionRecord("n2o", datetime(2026, 12, 1)), "start"),
    ],
)
def test_impossible_values_are_refused(make, field):
    with pytest.raises(ClinicalInputError) as exc:
        make()
    assert exc.value.field == field and "allowed" in str(exc.value)


def test_report_serialises():
    rep = check_session(record({"agent": "esketamine", "at_h": 0, "bp_pre": [150, 85]}))
    d = rep.to_dict()
    assert d["discharge_blocked"] is True  # no observation recorded
    assert {a["code"] for a in d["alerts"]} >= {"bp-pre-dose", "observation-short"}


# -- the label and the plan ---------------------------------------------------------------------


def test_labelled_esketamine_doses_come_from_the_regimens():
    label = labelled_doses("esketamine")
    assert label.doses_mg == (28, 56, 84) and label.mg_per_device == 28
    assert "spravato-dosing-label" in label.sources
    assert labelled_doses("ketamine").doses_mg == ()  # dosed per kg, not in label doses


@pytest.mark.parametrize(
    ("dose", "raised"),
    [(28, False), (56, False), (84, False), (112, True), (5600, True), (60, True), (0, True)],
)
def test_esketamine_dose_must_be_labelled(dose, raised):
    rec = SessionRecord("esketamine", T0, dose_mg=dose)
    assert ("dose-not-labelled" in check_session(rec).codes()) is raised


def test_planned_dose_follows_the_session_number():
    plan = plan_course("esketamine-label", T0.date(), age_years=40).to_dict()
    assert PlannedDose.from_plan(plan, 1).dose_mg == (56,)
    assert PlannedDose.from_plan(plan, 2).dose_mg == (56, 84)
    assert PlannedDose.from_plan(plan, 999).dose_mg == (56, 84)  # past the planned sessions
    first = check_session(
        SessionRecord("esketamine", T0, dose_mg=84), planned=PlannedDose.from_plan(plan, 1)
    )
    assert "dose-above-plan" in first.codes()


def test_ketamine_plan_keeps_the_weight_and_checks_mg_per_kg():
    plan = plan_course("ketamine-iv-single", T0.date(), weight_kg=72).to_dict()
    assert plan["weight_kg"] == 72
    planned = PlannedDose.from_plan(plan, 1)
    assert planned.dose_mg_per_kg == 0.5 and planned.weight_kg == 72
    assert "jelen2025" in planned.sources
    over = check_session(SessionRecord("ketamine", T0, dose_mg_per_kg=5), planned=planned)
    assert over.discharge_blocked and "dose-above-plan" in over.codes()
    as_planned = check_session(
        SessionRecord("ketamine", T0, dose_mg=36, dose_mg_per_kg=0.5), planned=planned
    )
    assert not [c for c in as_planned.codes() if c.startswith("dose-")]
    off = check_session(
        SessionRecord("ketamine", T0, dose_mg=360, dose_mg_per_kg=0.5), planned=planned
    )
    assert {"dose-above-plan", "dose-inconsistent"} <= set(off.codes())


def test_n2o_fraction_above_the_plan():
    planned = PlannedDose.from_plan(plan_course("n2o-25-weekly", T0.date()).to_dict(), 1)
    assert planned.n2o_fraction == 0.25
    rec = SessionRecord("n2o", T0, n2o_fraction=0.5, duration_min=60)
    assert "dose-above-plan" in check_session(rec, planned=planned).codes()
    assert "dose-above-plan" not in check_session(rec).codes()  # no plan, no comparison


@pytest.mark.parametrize(
    ("spec", "code", "blocks"),
    [
        ({}, "bp-post-missing", True),
        ({"bp_post": BloodPressure(130, 80)}, "bp-post-time-missing", False),
        ({"bp_post": BloodPressure(130, 80), "bp_post_min": 20}, "bp-post-early", True),
        ({"bp_post": BloodPressure(130, 80), "bp_post_min": 40}, None, False),
    ],
)
def test_esketamine_needs_the_40_minute_reading(spec, code, blocks):
    rep = check_session(SessionRecord("esketamine", T0, observation_min=130, **spec))
    found = {a.code: a for a in rep.alerts if a.code.startswith("bp-post")}
    if code is None:
        assert found == {}
    else:
        assert set(found) == {code} and found[code].blocks_discharge is blocks
        assert found[code].sources == ("spravato-hcp-dosing",)
    assert "bp-post-missing" not in check_session(SessionRecord("ketamine", T0)).codes()


def test_earliest_discharge():
    esk = earliest_discharge(SessionRecord("esketamine", T0, observation_min=60))
    assert esk.at == T0 + timedelta(minutes=120) and "spravato-rems" in esk.sources
    assert "spravato-boxed-2025" in esk.sources
    long = earliest_discharge(SessionRecord("esketamine", T0, duration_min=10, observation_min=130))
    assert long.at == T0 + timedelta(minutes=140) and "this record" in long.reason
    n2o = earliest_discharge(SessionRecord("n2o", T0))
    assert n2o.at == T0 and n2o.reason == "the session start"


def test_bp_post_min_needs_the_reading_it_times():
    with pytest.raises(ClinicalInputError) as exc:
        SessionRecord("esketamine", T0, bp_post_min=40)
    assert exc.value.field == "bp_post_min"


def _sedation_record(agent: str, levels: list[tuple[float, int]], **extra) -> SessionRecord:
    from raad.clinical.safety import VitalSigns

    vitals = tuple(VitalSigns(minutes=m, moaas=lvl) for m, lvl in levels)
    base = {"dose_mg": 56, "observation_min": 130} if agent == "esketamine" else {}
    return SessionRecord(agent=agent, start=T0, vitals=vitals, **{**base, **extra})


@pytest.mark.parametrize(
    ("levels", "pending"),
    [
        ([(40, 3), (120, 5)], False),  # sedation resolved by the last reading
        ([(40, 5), (120, 4)], True),  # the last reading still shows sedation
        ([(120, 4), (40, 5)], True),  # order of entry does not matter: time does
        ([], False),  # no MOAA/S recorded: nothing read into it
    ],
)
def test_esketamine_sedation_is_resolved_only_by_a_last_level_of_5(levels, pending):
    """The REMS monitors 'until resolution of sedation' (spravato-rems); MOAA/S 5 is the
    scale's only level without sedation (monitoring.yaml sedation_scale.not_sedated)."""
    report = check_session(_sedation_record("esketamine", levels))
    held = [a for a in report.alerts if a.code == "not-resolved"]
    assert bool(held) == pending
    if pending:
        assert "sedation (MOAA/S 4 at 120 min)" in held[0].message
        assert held[0].blocks_discharge and "spravato-rems" in held[0].sources


def test_sedation_is_not_listed_twice_when_also_marked_unresolved():
    report = check_session(
        _sedation_record("esketamine", [(60, 3)], unresolved=("sedation", "dissociation"))
    )
    (held,) = [a for a in report.alerts if a.code == "not-resolved"]
    assert held.message.count("sedation") == 1


def test_moaas_0_is_the_labels_loss_of_consciousness():
    """Label 5.1: 'loss of consciousness (MOAA/s score of 0)' (spravato-uspi-2019)."""
    report = check_session(_sedation_record("esketamine", [(30, 0), (125, 5)]))
    (lost,) = [a for a in report.alerts if a.code == "loss-of-consciousness"]
    assert lost.level == "critical" and lost.blocks_discharge and "30 min" in lost.message
    assert lost.sources == ("spravato-uspi-2019",)
    # for ketamine too (the level's meaning is the scale's), but sedation does not hold
    # discharge there: its observation waits for dissociation only (monitoring.yaml)
    ket = check_session(_sedation_record("ketamine", [(30, 0), (60, 3)], dose_mg_per_kg=0.5))
    codes = {a.code for a in ket.alerts}
    assert "loss-of-consciousness" in codes and "not-resolved" not in codes
