"""Session safety scenarios (tests/clinical/scenarios.yaml) and input checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from raad import scales
from raad.clinical.errors import ClinicalInputError
from raad.clinical.safety import BloodPressure, SessionRecord, check_session

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
