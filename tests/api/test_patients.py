"""Patients over the API: registration, identified and de-identified views, updates."""

from __future__ import annotations

from datetime import date

from tests.api.helpers import new_patient


def test_register_then_read_identified_with_etag(api):
    p = new_patient(api, b12_status="normal", conditions=["pneumothorax"])
    assert p["identity"]["mrn"].startswith("T-")
    assert p["research_id"].startswith("R-") and p["version"] == 1
    r = api.client.get(f"/patients/{p['id']}", headers=api.h("clinician"))
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    assert r.json()["facts"]["conditions"] == [{"text": "pneumothorax"}]


def test_update_needs_the_current_version(api):
    p = new_patient(api)
    url = f"/patients/{p['id']}"
    body = {"facts": {"b12_status": "low"}}
    assert api.client.patch(url, json=body, headers=api.h("clinician")).status_code == 428
    ok = api.client.patch(url, json=body, headers=api.h("clinician", **{"If-Match": '"1"'}))
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    # a measured fact entered without a date is dated today (it ages by its freshness window)
    assert ok.json()["facts"] == {
        "b12_status": "low",
        "fact_dates": {"b12_status": date.today().isoformat()},
    }
    # a second clinician still holding version 1 cannot overwrite
    stale = api.client.patch(
        url, json={"facts": {}}, headers=api.h("clinician", **{"If-Match": '"1"'})
    )
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    assert api.client.get(url, headers=api.h("clinician")).json()["facts"]["b12_status"] == "low"


def test_researcher_sees_no_identifiers(api):
    p = new_patient(api)
    r = api.client.get("/patients", params={"q": p["research_id"]}, headers=api.h("researcher"))
    assert r.status_code == 200
    (row,) = r.json()["items"]
    assert row["research_id"] == p["research_id"]
    assert "identity" not in row and "id" not in row
    assert p["identity"]["family_name"] not in r.text and p["identity"]["mrn"] not in r.text
    # searching by name finds nothing for a researcher
    by_name = api.client.get(
        "/patients", params={"q": p["identity"]["family_name"]}, headers=api.h("researcher")
    )
    assert by_name.json()["items"] == []
    assert api.client.get(f"/patients/{p['id']}", headers=api.h("researcher")).status_code == 403
    summary = api.client.get(f"/patients/{p['id']}/summary", headers=api.h("researcher"))
    assert summary.status_code == 200
    assert p["identity"]["family_name"] not in summary.text
    assert "identity" not in summary.json()["patient"]


def test_clinicians_see_only_their_site(api):
    p = new_patient(api)
    assert (
        api.client.get(f"/patients/{p['id']}", headers=api.h("other_clinician")).status_code == 403
    )
    listing = api.client.get("/patients", params={"limit": 200}, headers=api.h("other_clinician"))
    assert p["research_id"] not in listing.text
    assert api.client.get(f"/patients/{p['id']}", headers=api.h("admin")).status_code == 200


def test_list_search_and_pagination(api):
    made = [new_patient(api) for _ in range(3)]
    q = made[1]["identity"]["family_name"]
    r = api.client.get("/patients", params={"q": q}, headers=api.h("clinician")).json()
    assert [i["id"] for i in r["items"]] == [made[1]["id"]] and r["total"] == 1
    page1 = api.client.get(
        "/patients", params={"limit": 2, "offset": 0}, headers=api.h("clinician")
    ).json()
    page2 = api.client.get(
        "/patients", params={"limit": 2, "offset": 2}, headers=api.h("clinician")
    ).json()
    assert len(page1["items"]) == 2 and page1["total"] == page2["total"] >= 3
    assert not {i["id"] for i in page1["items"]} & {i["id"] for i in page2["items"]}


def test_history_and_trd_stage_in_the_summary(api):
    p = new_patient(api)
    for drug, atc in (("sertraline", "N06AB06"), ("venlafaxine-like", "N06AX16")):
        r = api.client.post(
            f"/patients/{p['id']}/history",
            json={
                "drug": drug,
                "atc": atc,
                "weeks": 8,
                "adequate_dose": True,
                "outcome": "non-response",
                "current_episode": True,
            },
            headers=api.h("clinician"),
        )
        assert r.status_code == 201, r.text
    s = api.client.get(f"/patients/{p['id']}/summary", headers=api.h("clinician")).json()
    assert s["trd"]["status"] == "TRD"
    assert sorted(s["trd"]["mechanism_groups"]) == ["N06AB", "N06AX16"]
    trial_id = api.client.get(f"/patients/{p['id']}/history", headers=api.h("clinician")).json()[0][
        "id"
    ]
    assert (
        api.client.delete(
            f"/patients/{p['id']}/history/{trial_id}", headers=api.h("clinician")
        ).status_code
        == 204
    )
    s = api.client.get(f"/patients/{p['id']}/summary", headers=api.h("clinician")).json()
    assert s["trd"]["status"] != "TRD"


def test_every_write_and_identified_read_is_audited(api):
    p = new_patient(api)
    api.client.get(f"/patients/{p['id']}", headers=api.h("clinician"))
    api.client.patch(
        f"/patients/{p['id']}",
        json={"sex": "male"},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    events = api.client.get(
        "/audit", params={"patient_id": p["id"]}, headers=api.h("admin")
    ).json()["items"]
    kinds = [(e["action"], e["entity"], e["username"]) for e in events]
    me = api.world.usernames["clinician"]
    assert kinds == [("create", "patient", me), ("read", "patient", me), ("update", "patient", me)]
    update = events[2]
    assert update["before"]["sex"] == "female" and update["after"]["sex"] == "male"
    assert api.client.get("/audit", headers=api.h("clinician")).status_code == 403


def test_a_record_number_is_registered_once_per_site(api):
    p = new_patient(api)
    again = api.client.post(
        "/patients",
        json={
            "identity": {
                "given_name": "Other",
                "family_name": "Synthetic-Twin",
                "mrn": p["identity"]["mrn"],
            }
        },
        headers=api.h("clinician"),
    )
    assert again.status_code == 409 and str(p["id"]) in again.json()["message"]


def test_the_summary_shows_the_latest_course_with_its_sessions_counted(api):
    """The current course is the patient's latest, with the sessions recorded on it (not on
    an earlier course, not another patient's) against the plan's count; none before a course
    is planned. The course's fields are those of GET /courses/{id}."""
    from tests.api.helpers import new_course, session_body

    p, other = new_patient(api), new_patient(api)
    summary = api.client.get(f"/patients/{p['id']}/summary", headers=api.h("clinician"))
    assert summary.status_code == 200 and summary.json()["current_course"] is None
    first = new_course(api, p["id"], start="2026-01-05")
    for day in ("05", "08"):
        body = session_body(first["id"], start=f"2026-01-{day}T10:00:00+00:00")
        assert (
            api.client.post("/sessions", json=body, headers=api.h("clinician")).status_code == 201
        )
    theirs = new_course(api, other["id"], start="2026-01-05")
    r = api.client.post("/sessions", json=session_body(theirs["id"]), headers=api.h("clinician"))
    assert r.status_code == 201, r.text
    current = api.client.get(f"/patients/{p['id']}/summary", headers=api.h("clinician")).json()[
        "current_course"
    ]
    assert current["sessions_recorded"] == 2
    assert current["sessions_planned"] == len(first["plan"]["sessions"]) == 8
    course = api.client.get(f"/courses/{first['id']}", headers=api.h("clinician")).json()
    assert current == {
        **{k: v for k, v in course.items() if k in current},
        "sessions_recorded": 2,
        "sessions_planned": 8,
    }
    assert set(current) - {"sessions_recorded", "sessions_planned"} <= set(course)
    assert current["id"] == first["id"] and current["regimen"] == "n2o-50-twice-weekly"
    second = api.client.post(
        f"/patients/{p['id']}/courses",
        json={"regimen": "n2o-25-weekly", "start": "2026-03-02"},
        headers=api.h("clinician"),
    )
    assert second.status_code == 201, second.text
    latest = api.client.get(f"/patients/{p['id']}/summary", headers=api.h("clinician")).json()
    assert latest["current_course"]["id"] == second.json()["id"]
    assert latest["current_course"]["regimen"] == "n2o-25-weekly"
    assert latest["current_course"]["sessions_recorded"] == 0
