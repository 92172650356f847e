"""Screening, courses, sessions with safety alerts, discharge, ratings and the summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.helpers import (
    hypertensive_ketamine_body,
    new_course,
    new_patient,
    post_rating,
    session_body,
    signature,
)

KNOWN = {
    "b12_status": "normal",
    "pregnant": False,
    "opioid_use": False,
    "systolic_mmhg": 120,
    "diastolic_mmhg": 80,
    "allergies": [],
}


def test_screening_shows_a_contraindication_with_its_source(api):
    p = new_patient(
        api,
        b12_status="normal",
        pregnant=False,
        opioid_use=False,
        systolic_mmhg=120,
        diastolic_mmhg=80,
        conditions=["pneumothorax"],
    )
    r = api.client.post(f"/patients/{p['id']}/screenings", headers=api.h("clinician"))
    assert r.status_code == 201, r.text
    n2o = r.json()["agents"]["n2o"]
    assert n2o["status"] == "contraindicated"
    (reason,) = [x for x in n2o["reasons"] if x["level"] == "contraindicated"]
    assert reason["facts"] == ["pneumothorax"] and reason["sources"]
    assert r.json()["knowledge_version"]
    latest = api.client.get(f"/patients/{p['id']}/screenings/latest", headers=api.h("researcher"))
    assert latest.json()["id"] == r.json()["id"]


def test_missing_facts_are_reported_not_assumed(api):
    p = new_patient(api)
    n2o = api.client.post(f"/patients/{p['id']}/screenings", headers=api.h("clinician")).json()[
        "agents"
    ]["n2o"]
    assert n2o["missing"] and n2o["status"] != "eligible"


def test_course_plan_is_dated(api):
    p = new_patient(api)
    c = new_course(api, p["id"], start="2026-12-01")
    dates = [s["date"] for s in c["plan"]["sessions"]]
    assert dates[0] == "2026-12-01" and len(dates) == 8 and dates == sorted(dates)
    got = api.client.get(f"/courses/{c['id']}", headers=api.h("clinician"))
    assert got.headers["etag"] == '"1"'
    bad = api.client.post(
        f"/patients/{p['id']}/courses",
        json={"regimen": "n2o-99", "start": "2026-12-01"},
        headers=api.h("clinician"),
    )
    assert bad.status_code == 422 and bad.json()["field"] == "regimen"


def test_high_blood_pressure_blocks_discharge_until_acknowledged(api):
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="ketamine-iv-weekly", weight_kg=70)
    body = hypertensive_ketamine_body(c["id"])
    r = api.client.post("/sessions", json=body, headers=api.h("clinician"))
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["route"] == "intravenous" and s["discharge_blocked"] is True
    bp = [a for a in s["alerts"] if a["code"] == "bp-post-dose"]
    assert bp and bp[0]["blocks_discharge"] and bp[0]["sources"]
    url = f"/sessions/{s['id']}/discharge"
    refused = api.client.post(url, headers=api.h("clinician", **{"If-Match": '"1"'}))
    assert refused.status_code == 409 and bp[0]["id"] in refused.json()["blocking_alerts"]
    ack = api.client.post(
        f"/alerts/{bp[0]['id']}/acknowledge",
        json={"note": "repeat BP 150/90, doctor informed", "signature": signature(api)},
        headers=api.h("clinician"),
    )
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == api.world.clinician.user_id
    assert (
        api.client.post(
            f"/alerts/{bp[0]['id']}/acknowledge", headers=api.h("clinician")
        ).status_code
        == 409
    )
    ok = api.client.post(
        url,
        json={"signature": signature(api)},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert ok.status_code == 200 and ok.json()["discharged_at"]
    again = api.client.post(
        url, json={"signature": signature(api)}, headers=api.h("clinician", **{"If-Match": '"2"'})
    )
    assert again.status_code == 409


def test_correcting_a_session_clears_alerts_it_no_longer_raises(api):
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    body = session_body(
        c["id"], n2o_fraction=None, dose_mg=56, observation_min=60, bp_post=None, route=None
    )
    s = api.client.post("/sessions", json=body, headers=api.h("clinician")).json()
    assert "observation-short" in {a["code"] for a in s["alerts"]}
    fixed = api.client.patch(
        f"/sessions/{s['id']}",
        json={"observation_min": 125, "bp_post": {"systolic": 130, "diastolic": 85}},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert fixed.status_code == 200, fixed.text
    assert "observation-short" not in {a["code"] for a in fixed.json()["alerts"]}
    assert fixed.json()["discharge_blocked"] is False
    every = api.client.get(
        "/alerts", params={"patient_id": p["id"]}, headers=api.h("clinician")
    ).json()["items"]
    cleared = [a for a in every if a["code"] == "observation-short"]
    assert cleared and cleared[0]["cleared_at"]


def test_ratings_give_response_in_the_summary_and_suicide_items_alert(api):
    p = new_patient(api)
    base = {str(i): 3 for i in range(1, 11)}
    base["10"] = 0
    later = {str(i): 1 for i in range(1, 11)}
    later["10"] = 0
    for when, resp in (("2026-01-05T09:00:00+00:00", base), ("2026-01-20T09:00:00+00:00", later)):
        r = api.client.post(
            f"/patients/{p['id']}/assessments",
            json={"instrument": "MADRS", "responses": resp, "administered_at": when},
            headers=api.h("clinician"),
        )
        assert r.status_code == 201, r.text
    s = api.client.get(f"/patients/{p['id']}/summary", headers=api.h("clinician")).json()
    (madrs,) = s["scores"]
    assert madrs["latest"]["total"] == 9 and madrs["baseline"]["total"] == 27
    calls = madrs["comparison"]["calls"]
    assert calls["response"]["met"] is True and calls["remission"]["met"] is True
    suicidal = dict(later, **{"10": 4})
    r = api.client.post(
        f"/patients/{p['id']}/assessments",
        json={
            "instrument": "MADRS",
            "responses": suicidal,
            "administered_at": "2026-01-21T09:00:00+00:00",
        },
        headers=api.h("clinician"),
    ).json()
    assert r["suicide_flag"] is True and r["alerts"][0]["code"] == "suicide-item"
    s = api.client.get(f"/patients/{p['id']}/summary", headers=api.h("clinician")).json()
    assert "suicide-item" in {a["code"] for a in s["open_alerts"]}


def test_sessions_list_filters(api):
    p = new_patient(api)
    c = new_course(api, p["id"])
    for day in ("05", "08"):
        api.client.post(
            "/sessions",
            json=session_body(c["id"], start=f"2026-01-{day}T10:00:00+00:00"),
            headers=api.h("clinician"),
        )
    r = api.client.get(
        "/sessions", params={"patient_id": p["id"], "agent": "n2o"}, headers=api.h("clinician")
    ).json()
    assert r["total"] == 2 and [s["start"][:10] for s in r["items"]] == ["2026-01-05", "2026-01-08"]
    assert (
        api.client.get("/sessions", params={"agent": "nope"}, headers=api.h("clinician")).json()[
            "field"
        ]
        == "agent"
    )


def test_stopped_courses_take_no_sessions(api):
    p = new_patient(api)
    c = new_course(api, p["id"])
    r = api.client.patch(
        f"/courses/{c['id']}",
        json={"status": "stopped"},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert r.status_code == 200 and r.json()["status"] == "stopped"
    assert (
        api.client.post(
            "/sessions", json=session_body(c["id"]), headers=api.h("clinician")
        ).status_code
        == 409
    )


def test_the_issue_session_cannot_be_discharged_a_minute_after_it_started(api):
    """190/112 after dosing, 60 min observation, dissociation unresolved, discharged one minute
    after the start with every alert acknowledged: 409 naming the earliest time."""
    p = new_patient(api, **KNOWN)
    c = new_course(api, p["id"], regimen="esketamine-label")
    start = datetime.now(UTC) - timedelta(minutes=1)
    body = session_body(
        c["id"],
        start=start.isoformat(),
        n2o_fraction=None,
        duration_min=None,
        dose_mg=56,
        bp_post={"systolic": 190, "diastolic": 112},
        bp_post_min=40,
        observation_min=60,
        unresolved=["dissociation"],
    )
    s = api.client.post("/sessions", json=body, headers=api.h("clinician")).json()
    assert {"bp-post-dose", "observation-short", "not-resolved"} <= {a["code"] for a in s["alerts"]}
    for a in s["alerts"]:
        r = api.client.post(
            f"/alerts/{a['id']}/acknowledge",
            json={"note": "seen by the doctor", "signature": signature(api)},
            headers=api.h("clinician"),
        )
        assert r.status_code == 200, r.text
    r = api.client.post(
        f"/sessions/{s['id']}/discharge", headers=api.h("clinician", **{"If-Match": '"1"'})
    )
    assert r.status_code == 409, r.text
    earliest = (start + timedelta(minutes=120)).isoformat()
    assert r.json()["earliest_discharge"] == earliest and earliest[:16] in r.json()["message"]
    got = api.client.get(f"/sessions/{s['id']}", headers=api.h("clinician")).json()
    assert (
        got["discharged_at"] is None
        and got["discharge_not_before"]["earliest_discharge"] == earliest
    )


def test_esketamine_112_mg_and_ketamine_5_mg_per_kg_raise_critical_alerts(api):
    p = new_patient(api, **KNOWN)
    esk = new_course(api, p["id"], regimen="esketamine-label")
    s = api.client.post(
        "/sessions",
        json=session_body(esk["id"], n2o_fraction=None, dose_mg=112, bp_post_min=40),
        headers=api.h("clinician"),
    ).json()
    (bad,) = [a for a in s["alerts"] if a["code"] == "dose-not-labelled"]
    assert bad["level"] == "critical" and "28, 56 or 84 mg" in bad["message"]
    ket = new_course(api, p["id"], regimen="ketamine-iv-single", weight_kg=80)
    s = api.client.post(
        "/sessions",
        json=session_body(ket["id"], n2o_fraction=None, dose_mg_per_kg=5, dose_mg=400),
        headers=api.h("clinician"),
    ).json()
    (above,) = [a for a in s["alerts"] if a["code"] == "dose-above-plan"]
    assert above["level"] == "critical" and "0.5 mg/kg" in above["message"]


def test_planning_n2o_for_a_pneumothorax_needs_override_reason(api):
    p = new_patient(api, **KNOWN, conditions=["pneumothorax"])
    url = f"/patients/{p['id']}/courses"
    body = {"regimen": "n2o-50-single", "start": "2026-12-01"}
    r = api.client.post(url, json=body, headers=api.h("clinician"))
    assert r.status_code == 422 and r.json()["field"] == "override_reason"
    assert r.json()["contraindications"][0]["facts"] == ["pneumothorax"]
    assert api.client.get(url, headers=api.h("clinician")).json() == []
    r = api.client.post(
        url,
        json={**body, "override_reason": "resolved, consultant agrees"},
        headers=api.h("clinician"),
    )
    assert r.status_code == 201 and r.json()["override"]["reason"] == "resolved, consultant agrees"
    got = api.client.get(f"/courses/{r.json()['id']}", headers=api.h("clinician")).json()
    assert got["override"]["contraindications"][0]["sources"]
    latest = api.client.get(f"/patients/{p['id']}/screenings/latest", headers=api.h("clinician"))
    assert latest.json() is None


def test_summary_tells_relapse_from_recurrence_by_dates(api):
    """MADRS 30, then <= 12 from 2 Feb for 3 weeks (remission, ACNP 2006), then 30 again: a
    recurrence when the remission had lasted 4 months (Rush et al. 2006), still a relapse under
    the 6-month convention."""
    p = new_patient(api)
    totals = [("2026-01-05", 3), ("2026-02-02", 1), ("2026-02-23", 1), ("2026-06-08", 1)]
    for day, v in [*totals, ("2026-06-15", 3)]:
        items = {str(i): v for i in range(1, 10)} | {"10": 0}
        post_rating(api, p["id"], "MADRS", items, f"{day}T09:00:00+00:00")
    s = api.client.get(f"/patients/{p['id']}/summary", headers=api.h("clinician")).json()
    (madrs,) = s["scores"]
    c = madrs["course"]
    assert c["status"] == "recurrence"  # remission onset 2 Feb + 4 months = 2 Jun < 8 Jun
    assert [e["kind"] for e in c["events"]] == ["remission", "recovery", "recurrence"]
    assert c["events"][0]["on"] == "2026-02-02" and "rush2006-acnp-course" in c["sources"]
    assert c["alternatives"][0]["status"] == "relapse"  # 6 months not reached by 15 June
