"""Course planning from the regimen data."""

from __future__ import annotations

from datetime import date

import pytest

from raad.clinical.errors import ClinicalInputError
from raad.clinical.protocols import plan_course
from raad.knowledge.treatment import regimens

START = date(2026, 12, 1)


def test_twice_weekly_n2o_has_8_sessions_in_4_weeks_and_flags_the_interval():
    c = plan_course("n2o-50-twice-weekly", START)
    assert len(c.sessions) == 8
    days = [(s.date - START).days for s in c.sessions]
    assert days == [0, 3, 7, 10, 14, 17, 21, 24]
    assert all(s.dose_values == {"n2o_fraction": 0.5, "duration_min": 60} for s in c.sessions)
    assert "guimaraes2021" in c.sources
    warn = [n for n in c.notes if n.level == "warning"]
    assert warn and "entonox-spc" in warn[0].sources and "4 days" in warn[0].text
    assert any("pulse oximetry" in chk for chk in c.sessions[0].checks)


def test_weekly_n2o_is_not_flagged_for_interval():
    c = plan_course("n2o-25-weekly", START)
    assert [(s.date - START).days for s in c.sessions] == [0, 7, 14, 21]
    assert not [n for n in c.notes if "days apart" in n.text]


def test_ketamine_dose_from_weight_and_weight_required():
    c = plan_course("ketamine-iv-single", START, weight_kg=80)
    assert c.sessions[0].dose_values["dose_mg"] == pytest.approx(40.0)
    assert "0.5 mg/kg" in c.sessions[0].dose
    with pytest.raises(ClinicalInputError) as exc:
        plan_course("ketamine-iv-single", START)
    assert exc.value.field == "weight_kg"
    with pytest.raises(ClinicalInputError, match="weight_kg"):
        plan_course("ketamine-iv-single", START, weight_kg=-5)


def test_esketamine_label_phases_and_age():
    c = plan_course("esketamine-label", START, age_years=40)
    phases = [s.phase for s in c.sessions]
    assert phases.count("induction") == 8 and phases.count("optimisation") == 4
    assert c.sessions[0].dose_values["dose_mg"] == [56]
    assert c.sessions[1].dose_values["dose_mg"] == [56, 84]
    gaps = [
        (b.date - a.date).days for a, b in zip(c.sessions[8:12], c.sessions[9:13], strict=False)
    ]
    assert gaps == [7, 7, 7, 7]
    old = plan_course("esketamine-label-65plus", START, age_years=70)
    assert old.sessions[0].dose_values["dose_mg"] == [28]
    with pytest.raises(ClinicalInputError, match="esketamine-label-65plus"):
        plan_course("esketamine-label", START, age_years=70)
    assert any(n.level == "missing" for n in plan_course("esketamine-label", START).notes)


def test_unknown_regimen_names_the_allowed():
    with pytest.raises(ClinicalInputError) as exc:
        plan_course("n2o-70-daily", START)
    assert exc.value.field == "regimen" and "n2o-50-twice-weekly" in str(exc.value)


@pytest.mark.parametrize("regimen", sorted(regimens()))
def test_every_regimen_plans_and_cites(regimen):
    r = regimens()[regimen]
    c = plan_course(regimen, START, weight_kg=70, age_years=70 if r.min_age_years else 40)
    assert c.sessions and c.sources
    assert c.to_dict()["sessions"][0]["date"] == START.isoformat()
    assert r.label in str(c)


def test_course_lists_reported_adverse_events_with_sources():
    c = plan_course("n2o-50-twice-weekly", START)
    texts = [n.text for n in c.adverse_events]
    assert "nausea or vomiting: 15/96 sessions (15.6%)" in texts
    assert any("RR 12.69" in t for t in texts)  # pooled 50% result applies to this regimen
    assert not any("at 25%" in t for t in texts)
    k = plan_course("ketamine-iv-single", START, weight_kg=70)
    assert any("reported 12.5%" in n.text for n in k.adverse_events)
    assert c.to_dict()["adverse_events"][0]["sources"]


def test_the_plan_keeps_the_weight_its_doses_were_computed_for():
    assert plan_course("ketamine-iv-single", START, weight_kg=64).to_dict()["weight_kg"] == 64
    assert plan_course("n2o-50-weekly", START).to_dict()["weight_kg"] is None
