"""Bad input: 422 naming the field, the value and what is allowed; 404 for unknown ids; never
a 500; nothing written by a refused request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import new_course, new_patient, session_body


@pytest.fixture(scope="module")
def course(api):
    p = new_patient(api)
    return {**new_course(api, p["id"]), "patient_id": p["id"]}


@pytest.mark.parametrize(
    ("change", "field", "allowed"),
    [
        ({"bp_pre": {"systolic": 400, "diastolic": 20}}, "bp_pre.systolic", "50-300"),
        ({"bp_post": {"systolic": 120, "diastolic": 130}}, "bp_post", "systolic above diastolic"),
        ({"n2o_fraction": 0.8}, "n2o_fraction", "0-0.7"),
        ({"duration_min": -5}, "duration_min", "1-240"),
        ({"dose_mg": -1}, "dose_mg", "0-10000"),
        ({"dose_mg": 20_000}, "dose_mg", "0-10000"),
        ({"dose_mg": 50}, "dose_mg", "only for agent"),
        ({"dose_mg_per_kg": 0.5}, "dose_mg_per_kg", "only for agent 'ketamine'"),
        ({"bp_post_min": 40, "bp_post": None}, "bp_post_min", "only with bp_post"),
        ({"bp_post_min": -3}, "bp_post_min", "0-1440"),
        ({"observation_min": 5000}, "observation_min", "0-1440"),
        (
            {"start": (datetime.now(UTC) + timedelta(hours=2)).isoformat()},
            "start",
            "clock-skew allowance",
        ),
        ({"override_reason": "not needed"}, "override_reason", "nothing to override"),
        ({"start": "2026-01-05T10:00:00"}, "start", "timezone"),
        (
            {"adverse_events": [{"event": "nausea", "severity": "awful"}]},
            "adverse_events.0.severity",
            "mild",
        ),
        ({"surprise": 1}, "surprise", "no such field"),
    ],
)
def test_session_fields_are_checked(api, course, change, field, allowed):
    before = api.client.get(
        "/sessions", params={"course_id": course["id"]}, headers=api.h("clinician")
    ).json()["total"]
    r = api.client.post(
        "/sessions", json=session_body(course["id"], **change), headers=api.h("clinician")
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field and allowed.lower() in body["allowed"].lower()
    after = api.client.get(
        "/sessions", params={"course_id": course["id"]}, headers=api.h("clinician")
    ).json()["total"]
    assert after == before  # nothing written


@pytest.mark.parametrize(
    ("responses", "field", "allowed"),
    [
        ({**{str(i): 1 for i in range(1, 10)}, "1": 7}, "responses (PHQ-9 item 1)", "0-3"),
        ({**{str(i): 1 for i in range(1, 10)}, "11": 1}, "responses", "item"),
        ({str(i): 1 for i in range(1, 9)}, "responses (PHQ-9 items)", "every item answered"),
        # the library's coercion rule, the same through the API: true and "1" are not ratings
        ({**{str(i): 1 for i in range(1, 10)}, "1": True}, "responses", "integer"),
        ({**{str(i): 1 for i in range(1, 10)}, "1": "1"}, "responses", "integer"),
        ({**{str(i): 1 for i in range(1, 10)}, "1": 1.5}, "responses (PHQ-9 item 1)", "integer"),
    ],
)
def test_rating_items_are_checked(api, responses, field, allowed):
    p = new_patient(api)
    r = api.client.post(
        f"/patients/{p['id']}/assessments",
        json={
            "instrument": "PHQ-9",
            "responses": responses,
            "administered_at": "2026-01-05T09:00:00+00:00",
        },
        headers=api.h("clinician"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith(field.split(" (")[0]) and allowed.lower() in r.text.lower()
    assert (
        api.client.get(f"/patients/{p['id']}/assessments", headers=api.h("clinician")).json() == []
    )


def test_whole_number_floats_are_ratings_as_in_the_library(api):
    """1.0 is accepted, as ``raad.scales.score`` accepts it, and stored as the integer 1."""
    p = new_patient(api)
    r = api.client.post(
        f"/patients/{p['id']}/assessments",
        json={
            "instrument": "PHQ-9",
            "responses": {str(i): 1.0 for i in range(1, 10)} | {"10": None},
            "administered_at": "2026-01-05T09:00:00+00:00",
        },
        headers=api.h("clinician"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["total"] == 9
    assert r.json()["responses"] == {str(i): 1 for i in range(1, 10)}
    assert all(type(v) is int for v in r.json()["responses"].values())


def test_unknown_instrument_and_facts(api):
    p = new_patient(api)
    r = api.client.post(
        f"/patients/{p['id']}/assessments",
        json={"instrument": "BDI", "responses": {}, "administered_at": "2026-01-05T09:00:00+00:00"},
        headers=api.h("clinician"),
    )
    assert (
        r.status_code == 422
        and r.json()["field"] == "instrument"
        and "MADRS" in r.json()["allowed"]
    )
    bad_facts = api.client.patch(
        f"/patients/{p['id']}",
        json={"facts": {"systolic_mmhg": 120}},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert bad_facts.status_code == 422 and bad_facts.json()["field"].startswith("facts.")
    assert api.client.get(f"/patients/{p['id']}", headers=api.h("clinician")).json()["version"] == 1


def test_acknowledging_without_a_note_names_the_field(api, course):
    r = api.client.post(
        "/sessions",
        json=session_body(course["id"], unresolved=["dissociation"]),
        headers=api.h("clinician"),
    )
    (blocking,) = [a for a in r.json()["alerts"] if a["code"] == "not-resolved"]
    url = f"/alerts/{blocking['id']}/acknowledge"
    for body in (None, {}, {"note": ""}, {"note": "  "}):
        r = api.client.post(url, json=body, headers=api.h("clinician"))
        assert r.status_code == 422 and r.json()["field"] == "note", r.text
    alert = api.client.get(
        "/alerts", params={"patient_id": course["patient_id"]}, headers=api.h("clinician")
    ).json()["items"]
    assert [a["acknowledged_at"] for a in alert if a["id"] == blocking["id"]] == [None]


def test_unknown_ids_are_404(api):
    for url in (
        "/patients/999999",
        "/patients/999999/summary",
        "/sessions/999999",
        "/courses/999999",
    ):
        r = api.client.get(url, headers=api.h("admin"))
        assert r.status_code == 404, url
    assert api.client.post("/alerts/999999/acknowledge", headers=api.h("admin")).status_code == 404
    assert api.client.get("/patients/abc", headers=api.h("admin")).status_code == 422


def test_malformed_json_is_422(api):
    r = api.client.post(
        "/sessions",
        content=b"{not json",
        headers=api.h("clinician", **{"Content-Type": "application/json"}),
    )
    assert r.status_code == 422


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(
        ["/sessions", "/patients", "PATIENT/assessments", "PATIENT/courses", "PATIENT/history"]
    ),
    field=st.sampled_from(
        [
            "course_id",
            "start",
            "bp_pre",
            "n2o_fraction",
            "identity",
            "facts",
            "instrument",
            "responses",
            "regimen",
            "weeks",
            "administered_at",
        ]
    ),
    value=JSONISH,
)
def test_no_payload_causes_a_500(api, course, path, field, value):
    url = path.replace("PATIENT", f"/patients/{course['patient_id']}")
    base = session_body(course["id"]) if path == "/sessions" else {}
    r = api.client.post(
        url,
        content=json.dumps({**base, field: value}),
        headers=api.h("clinician", **{"Content-Type": "application/json"}),
    )
    assert r.status_code in (200, 201, 404, 409, 422), (url, field, value, r.status_code, r.text)


def test_nothing_is_recorded_before_the_patient_was_born(api):
    """A rating or a session dated before the year of birth is refused (a research export
    showed an age of -1979)."""
    from tests.api.helpers import new_course, session_body

    p = new_patient(api)  # born 1980
    r = api.client.post(
        f"/patients/{p['id']}/assessments",
        json={
            "instrument": "PHQ-9",
            "responses": {str(i): 0 for i in range(1, 10)},
            "administered_at": "1975-01-05T09:00:00+00:00",
        },
        headers=api.h("clinician"),
    )
    assert r.status_code == 422 and "born 1980" in r.json()["allowed"]
    c = new_course(api, p["id"])
    s = api.client.post(
        "/sessions",
        json=session_body(c["id"], start="1979-12-31T10:00:00+00:00"),
        headers=api.h("clinician"),
    )
    assert s.status_code == 422 and s.json()["field"] == "start"
