"""The session record to REMS grade (issue 18): a timed vital-signs series (BP, heart rate, SpO2,
MOAA/S) read by the safety monitor, lot numbers, concomitant sedating medicines (the REMS
Patient Monitoring Form's list), the pre-session checklist, who observed and when the patient was
ready to leave; refused values name their field."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.helpers import new_course, new_patient, session_body, signature

START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def _at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


def _esketamine(api, **over):
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    fields = {
        "start": START.isoformat(),
        "n2o_fraction": None,
        "dose_mg": 56,
        "bp_pre": None,
        "bp_post": None,
        "observation_min": 130,
        "route": None,
        **over,
    }
    body = session_body(c["id"], **fields)
    r = api.client.post("/sessions", json=body, headers=api.h("clinician"))
    return c, r


def _codes(s):
    return {a["code"]: a for a in s["alerts"]}


def test_the_series_is_stored_and_read_by_the_safety_monitor(api):
    _, r = _esketamine(
        api,
        vitals=[
            {
                "time": _at(41),
                "systolic": 186,
                "diastolic": 104,
                "heart_rate": 88,
                "spo2": 97,
                "moaas": 4,
            },
            {"time": _at(-5), "systolic": 128, "diastolic": 78, "heart_rate": 72, "spo2": 99},
            {"time": _at(90), "systolic": 138, "diastolic": 84, "moaas": 5},
        ],
        lot_numbers=["LOT-A1 ", "LOT-B2"],
        concomitant={"benzodiazepines": True, "maois": False},
        observed_by="  Nurse Kim ",
        ready_to_leave_at=_at(125),
    )
    assert r.status_code == 201, r.text
    s = r.json()
    # stored in time order, as given
    assert [v["time"] for v in s["vitals"]] == [_at(-5), _at(41), _at(90)]
    assert s["vitals"][1]["moaas"] == 4 and s["vitals"][0]["spo2"] == 99
    assert s["lot_numbers"] == ["LOT-A1", "LOT-B2"] and s["observed_by"] == "Nurse Kim"
    assert s["concomitant"] == {"benzodiazepines": True, "maois": False}
    assert s["ready_to_leave_at"] == _at(125)
    codes = _codes(s)
    # the reading before dosing counts as the pre-dose BP; the one at 41 min is the label's
    # 40-minute reading and is above the threshold
    assert "bp-pre-missing" not in codes and "bp-post-missing" not in codes
    assert "bp-post-early" not in codes
    post = codes["bp-post-dose"]
    assert post["facts"]["bp_post"] == "186/104 mmHg" and post["facts"]["bp_post_min"] == 41
    assert post["blocks_discharge"] is True


def test_a_series_taken_only_before_40_minutes_is_early(api):
    _, r = _esketamine(
        api,
        vitals=[
            {"time": _at(-2), "systolic": 125, "diastolic": 80},
            {"time": _at(20), "systolic": 130, "diastolic": 82},
        ],
    )
    codes = _codes(r.json())
    assert "bp-post-early" in codes and codes["bp-post-early"]["facts"]["bp_post_min"] == 20


def test_the_checklist_is_the_plans(api):
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    checks = c["plan"]["sessions"][0]["checks"]
    body = session_body(
        c["id"],
        n2o_fraction=None,
        dose_mg=56,
        route=None,
        checklist={checks[0]: True, checks[1]: False},
    )
    r = api.client.post("/sessions", json=body, headers=api.h("clinician"))
    assert r.status_code == 201 and r.json()["checklist"] == {checks[0]: True, checks[1]: False}
    bad = api.client.post(
        "/sessions",
        json=dict(body, checklist={"something else": True}),
        headers=api.h("clinician"),
    )
    assert bad.status_code == 422 and bad.json()["field"] == "checklist"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"vitals": [{"time": _at(10), "moaas": 6}]}, "vitals[0].moaas"),
        ({"vitals": [{"time": _at(10), "spo2": 120}]}, "vitals[0].spo2"),
        ({"vitals": [{"time": _at(10), "systolic": 120}]}, "vitals[0]"),
        ({"vitals": [{"time": _at(10)}]}, "vitals[0]"),
        ({"vitals": [{"time": _at(3000), "heart_rate": 80}]}, "vitals[0].minutes"),
        ({"lot_numbers": [""]}, "lot_numbers[0]"),
        ({"concomitant": {"alcohol": True}}, "concomitant"),
        ({"ready_to_leave_at": _at(-30)}, "ready_to_leave_at"),
    ],
)
def test_bad_values_name_their_field_and_save_nothing(api, over, field):
    c, r = _esketamine(api, **over)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    listed = api.client.get(
        "/sessions", params={"course_id": c["id"]}, headers=api.h("clinician")
    ).json()
    assert listed["total"] == 0


def test_the_series_can_be_completed_later(api):
    _, r = _esketamine(api, vitals=[{"time": _at(-5), "systolic": 128, "diastolic": 78}])
    s = r.json()
    assert "bp-post-missing" in _codes(s)
    more = s["vitals"] + [{"time": _at(45), "systolic": 132, "diastolic": 80, "spo2": 98}]
    fixed = api.client.patch(
        f"/sessions/{s['id']}",
        json={"vitals": more, "reason": "40-minute reading entered"},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert fixed.status_code == 200, fixed.text
    assert "bp-post-missing" not in _codes(fixed.json())
    assert len(fixed.json()["vitals"]) == 2


def test_researchers_see_no_lot_numbers_or_observer(api):
    _, r = _esketamine(api, lot_numbers=["Smith John 555-0101"], observed_by="Nurse Kim", vitals=[])
    got = api.client.get(f"/sessions/{r.json()['id']}", headers=api.h("researcher")).json()
    assert got["observed_by"] is None and "Smith" not in str(got)


def _pdf_text(content: bytes) -> str:
    import io

    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_rems_form_is_filled_from_the_record(api):
    c, r = _esketamine(
        api,
        vitals=[
            {"time": _at(-5), "systolic": 128, "diastolic": 78, "spo2": 99},
            {"time": _at(42), "systolic": 150, "diastolic": 92, "moaas": 4},
            {"time": _at(110), "systolic": 134, "diastolic": 82, "moaas": 5},
        ],
        lot_numbers=["ESK-2201"],
        concomitant={"benzodiazepines": True, "psychostimulants": False},
        observed_by="Nurse Kim",
        ready_to_leave_at=_at(118),
    )
    s = r.json()
    assert s["rems"]["due_by"] == "2026-01-12" and s["rems"]["submitted_at"] is None
    pdf = api.client.get(f"/sessions/{s['id']}/rems-form.pdf", headers=api.h("clinician"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = _pdf_text(pdf.content)
    patient = api.client.get(
        f"/patients/{_pid_of_course(api, c['id'])}", headers=api.h("clinician")
    ).json()
    for expected in (
        patient["identity"]["family_name"],
        "ESK-2201",
        "Nurse Kim",
        "56 mg",
        "128/78 mmHg",  # before administration
        "150/92 mmHg at 42 min",  # the 40-minute reading
        "134/82 mmHg at 110 min",  # before completion
        "118 minutes",  # ready to leave
        "2026-01-12",  # due by
        "4 at 42 min",  # MOAA/S
    ):
        assert expected in text, expected
    # unknown is printed as such, never as "No"
    assert "Opioids" in text
    lines = text.splitlines()
    at = lines.index("Opioids")
    assert lines[at + 1] == "not recorded", lines[at : at + 2]
    assert "Benzodiazepines Yes" in text or "Benzodiazepines\nYes" in text, text
    # the form is completed after the session: not before discharge
    early = api.client.post(f"/sessions/{s['id']}/rems-submitted", headers=api.h("clinician"))
    assert early.status_code == 409 and "not discharged" in early.json()["message"]
    for a in s["alerts"]:
        if a["blocks_discharge"]:
            api.client.post(
                f"/alerts/{a['id']}/acknowledge",
                json={"note": "reviewed", "signature": signature(api)},
                headers=api.h("clinician"),
            )
    gone = api.client.post(
        f"/sessions/{s['id']}/discharge",
        json={"signature": signature(api)},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert gone.status_code == 200, gone.text
    done = api.client.post(f"/sessions/{s['id']}/rems-submitted", headers=api.h("clinician"))
    assert done.status_code == 200 and done.json()["rems"]["submitted_at"]
    assert done.json()["rems"]["days_left"] is None
    again = api.client.post(f"/sessions/{s['id']}/rems-submitted", headers=api.h("clinician"))
    assert again.status_code == 409


def _pid_of_course(api, course_id: int) -> int:
    events = api.client.get(
        "/audit", params={"entity": "course", "entity_id": course_id}, headers=api.h("admin")
    ).json()["items"]
    return events[0]["patient_id"]


def test_the_record_pdf_and_who_may_print(api):
    p = new_patient(api)
    c = new_course(api, p["id"])
    s = api.client.post(
        "/sessions", json=session_body(c["id"], lot_numbers=["N2O-77"]), headers=api.h("clinician")
    ).json()
    pdf = api.client.get(f"/sessions/{s['id']}/record.pdf", headers=api.h("clinician"))
    assert pdf.status_code == 200
    text = _pdf_text(pdf.content)
    assert p["identity"]["family_name"] in text and "N2O-77" in text and "n2o" in text
    assert (
        api.client.get(f"/sessions/{s['id']}/record.pdf", headers=api.h("researcher")).status_code
        == 403
    )
    assert (
        api.client.get(
            f"/sessions/{s['id']}/record.pdf", headers=api.h("other_clinician")
        ).status_code
        == 403
    )
    # the REMS form is for esketamine sessions only
    r = api.client.get(f"/sessions/{s['id']}/rems-form.pdf", headers=api.h("clinician"))
    assert r.status_code == 409 and "esketamine" in r.json()["message"]
    # printing is an identified read, kept in the audit trail
    reads = api.client.get(
        "/audit", params={"entity": "session-pdf", "entity_id": s["id"]}, headers=api.h("admin")
    ).json()["items"]
    assert [e["detail"] for e in reads] == ["record"]


def test_two_findings_of_one_code_do_not_overwrite_each_other(api):
    """A break test: the warning and the critical blood pressure after dosing share a code;
    keyed by code alone they cleared each other on unrelated edits (a lot number)."""
    _, r = _esketamine(
        api,
        vitals=[
            {"time": _at(-5), "systolic": 130, "diastolic": 80},
            {"time": _at(40), "systolic": 190, "diastolic": 80},
        ],
    )
    s = r.json()
    before = sorted((a["id"], a["level"]) for a in s["alerts"] if a["code"] == "bp-post-dose")
    assert before, s["alerts"]
    edited = api.client.patch(
        f"/sessions/{s['id']}",
        json={"lot_numbers": ["A1"]},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert edited.status_code == 200, edited.text
    after = sorted(
        (a["id"], a["level"]) for a in edited.json()["alerts"] if a["code"] == "bp-post-dose"
    )
    assert after == before


def test_a_reading_cannot_be_in_the_future(api):
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    now = datetime.now(UTC)
    body = session_body(
        c["id"],
        start=(now - timedelta(minutes=10)).isoformat(),
        n2o_fraction=None,
        dose_mg=56,
        route=None,
        vitals=[{"time": (now + timedelta(minutes=60)).isoformat(), "heart_rate": 80}],
    )
    r = api.client.post("/sessions", json=body, headers=api.h("clinician"))
    assert r.status_code == 422 and r.json()["field"] == "vitals[0].time", r.text


def test_a_check_recorded_as_not_done_is_a_cited_warning(api):
    """A break test: an unticked pre-session check raised nothing. Now a warning names it with
    the check's own sources; an unanswered check is not called "not done"."""
    p = new_patient(api)
    c = new_course(api, p["id"])  # N2O: its checks come with their sources in the plan
    checks = c["plan"]["sessions"][0]["checks"]
    body = session_body(c["id"], checklist={checks[0]: False, checks[1]: True})
    s = api.client.post("/sessions", json=body, headers=api.h("clinician")).json()
    (alert,) = [a for a in s["alerts"] if a["code"] == "check-not-done"]
    assert alert["level"] == "warning" and not alert["blocks_discharge"]
    assert checks[0] in alert["message"] and checks[1] not in alert["message"]
    assert alert["sources"] == c["plan"]["check_sources"][checks[0]]
    done = api.client.patch(
        f"/sessions/{s['id']}",
        json={"checklist": {checks[0]: True, checks[1]: True}, "reason": "check done late"},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    ).json()
    assert "check-not-done" not in {a["code"] for a in done["alerts"]}
    unanswered = api.client.post(
        "/sessions",
        json=session_body(c["id"], start="2026-01-08T10:00:00+00:00"),
        headers=api.h("clinician"),
    ).json()
    assert "check-not-done" not in {a["code"] for a in unanswered["alerts"]}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"vitals": "drop-critical"}, id="a reading removed"),
        pytest.param({"vitals": "edit-critical"}, id="a reading changed"),
        pytest.param({"lot_numbers": []}, id="a lot number removed"),
        pytest.param({"observed_by": "Nurse B"}, id="who observed changed"),
        pytest.param({"ready_to_leave_at": None}, id="the time ready to leave cleared"),
        pytest.param({"notes": "rewritten"}, id="notes rewritten"),
    ],
)
def test_changing_what_was_recorded_needs_a_reason(api, change):
    """A break test: PATCH replaced the readings and could take off the reading behind a
    critical alert, clearing the alert, with no reason given. A correction now needs a reason
    (WHO GCP 1995, Annex 3, 10.1(c); 21 CFR 11.10(e)); without one nothing changes."""
    critical = {"time": _at(40), "systolic": 190, "diastolic": 80}
    pre = {"time": _at(-5), "systolic": 130, "diastolic": 80}
    _, r = _esketamine(
        api,
        vitals=[pre, critical],
        lot_numbers=["LOT-1"],
        notes="calm",
        ready_to_leave_at=_at(110),
        observed_by="Nurse A",
    )
    s = r.json()
    assert r.status_code == 201, r.text
    body = dict(change)
    if body.get("vitals") == "drop-critical":
        body["vitals"] = [pre]
    elif body.get("vitals") == "edit-critical":
        body["vitals"] = [pre, dict(critical, systolic=150)]
    url, h = f"/sessions/{s['id']}", api.h("clinician", **{"If-Match": '"1"'})
    refused = api.client.patch(url, json=body, headers=h)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "reason"
    assert next(iter(change)) in refused.json()["allowed"]
    kept = api.client.get(url, headers=api.h("clinician")).json()
    assert kept["version"] == 1 and kept["vitals"] == s["vitals"]
    assert {a["id"] for a in kept["alerts"]} == {a["id"] for a in s["alerts"]}
    done = api.client.patch(url, json={**body, "reason": "entered on the wrong patient"}, headers=h)
    assert done.status_code == 200, done.text
    trail = api.client.get(
        "/audit", params={"entity": "session", "entity_id": s["id"]}, headers=api.h("admin")
    ).json()
    update = next(e for e in trail["items"] if e["action"] == "update")
    assert update["reason"] == "entered on the wrong patient"


def test_adding_to_the_record_needs_no_reason(api):
    pre = {"time": _at(-5), "systolic": 130, "diastolic": 80}
    _, r = _esketamine(
        api,
        vitals=[pre],
        notes="calm",
        observation_min=60,
        unresolved=["dissociation"],
        cadss_total=12,
    )
    s = r.json()
    more = api.client.patch(
        f"/sessions/{s['id']}",
        json={
            "vitals": [pre, {"time": _at(40), "systolic": 135, "diastolic": 82}],
            "lot_numbers": ["LOT-2"],
            "notes": "calm; talking at 40 min",
            "observation_min": 125,
            "unresolved": [],  # an effect resolving is not a correction
            "cadss_total": 4,  # nor is a new rating
        },
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert more.status_code == 200, more.text
    assert len(more.json()["vitals"]) == 2


def test_the_rems_deadline_counts_the_sites_days(api):
    """7 days from the session's day at the site: 11:00 UTC on 5 January is 6 January at
    UTC+14, so the form is due by 13 January there (12 January at a UTC site)."""
    _, r = _esketamine(api, start="2026-01-05T11:00:00+00:00")
    assert r.json()["rems"]["due_by"] == "2026-01-12"
    moved = api.client.patch(
        f"/sites/{api.world.site}", json={"time_zone": "Pacific/Kiritimati"}, headers=api.h("admin")
    )
    assert moved.status_code == 200
    try:
        got = api.client.get(f"/sessions/{r.json()['id']}", headers=api.h("clinician")).json()
        assert got["rems"]["due_by"] == "2026-01-13"
        assert got["rems"]["time_zone"] == "Pacific/Kiritimati"
    finally:
        api.client.patch(
            f"/sites/{api.world.site}", json={"time_zone": "UTC"}, headers=api.h("admin")
        )


def test_a_created_record_answers_its_etag_and_location(api):
    """A break test: POST /sessions answered no ETag, so the first PATCH had to GET the
    record first. Patients, courses and sessions now answer ``ETag`` and ``Location``
    (RFC 9110 15.3.2), also on an idempotent replay."""
    person = {"given_name": "E", "family_name": "Tag", "mrn": f"ET-{secrets.token_hex(4)}"}
    missing = api.client.post(
        "/patients", json={"identity": {"given_name": "E"}}, headers=api.h("clinician")
    )
    assert missing.status_code == 422 and missing.json()["value"] is None
    assert "required" in missing.json()["allowed"]
    p = api.client.post("/patients", json={"identity": person}, headers=api.h("clinician"))
    assert p.status_code == 201, p.text
    assert p.headers["etag"] == '"1"' and p.headers["location"] == f"/patients/{p.json()['id']}"
    c = new_course(api, p.json()["id"], regimen="esketamine-label")
    body = session_body(c["id"], n2o_fraction=None, dose_mg=56, route=None)
    h = api.h("clinician", **{"Idempotency-Key": "etag-test-" + str(c["id"])})
    first = api.client.post("/sessions", json=body, headers=h)
    again = api.client.post("/sessions", json=body, headers=h)
    for r in (first, again):
        assert r.status_code == 201 and r.headers["etag"] == '"1"', r.headers
        assert r.headers["location"] == f"/sessions/{first.json()['id']}"
    assert again.headers["idempotent-replayed"] == "true"
    edit = api.client.patch(
        r.headers["location"],
        json={"lot_numbers": ["X1"]},
        headers=api.h("clinician", **{"If-Match": r.headers["etag"]}),
    )
    assert edit.status_code == 200, edit.text
    plain = api.client.post("/sessions", json=body, headers=api.h("clinician"))  # Core path
    assert plain.headers["etag"] == '"1"' and plain.headers["location"].startswith("/sessions/")
