"""Researchers read no identifier, free text, staff name or real date anywhere (API, FHIR,
export, web), and every researcher read is audited.

A record is filled the way a clinician might fill it - a name, an address and a phone number
typed into every free-text field, a birth year of 1931 (age 95) - and every read a researcher
may make is searched for them (issue 17: "a planted name, address and phone number came back
verbatim").
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from raad.services.deid import AGE_TOP_CODE
from raad.store.models import AuditEvent, Patient
from tests.api.helpers import (
    hypertensive_ketamine_body,
    new_course,
    post_rating,
    signature,
    web_login,
)
from tests.dbfixtures import PASSWORD

PLANT = "Jane Planted, 42 Wallaby Way, 555-0142"
PLANT_MARKS = ("Planted", "Wallaby", "555-0142")
REAL_DAY = "2026-01-05"
SHIFT = -100  # set on the patient so the shifted days are known (2026-01-05 -> 2025-09-27)


@pytest.fixture(scope="module")
def planted(api, database):
    body = {
        "identity": {
            "given_name": "Jane",
            "family_name": "Planted",
            "mrn": "MRN-555-0142",
            "birth_date": "1931-02-03",
        },
        "sex": "female",
        "facts": {
            "conditions": [
                {"text": PLANT},  # uncoded: free text
                # coded, but with words typed beside the code, and a "code" that is not one
                {"text": PLANT, "system": "http://snomed.info/sct", "code": "35489007"},
                {"system": PLANT, "code": PLANT},
            ],
            "deceased": f"{REAL_DAY} {PLANT}",  # screening quotes it
            "medications": [
                {
                    "text": "sertraline",
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "36437",
                    "status": "current",
                },
            ],
        },
    }
    r = api.client.post("/patients", json=body, headers=api.h("clinician"))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    with database.transaction() as s:
        s.execute(update(Patient).where(Patient.id == pid).values(date_shift_days=SHIFT))
    h = api.h("clinician")
    for trial in ({"drug": PLANT[:100], "weeks": 8}, {"drug": PLANT, "atc": "N06AB06"}):
        r = api.client.post(f"/patients/{pid}/history", json=trial, headers=h)
        assert r.status_code == 201, r.text
    assert api.client.post(f"/patients/{pid}/screenings", headers=h).status_code in (200, 201)
    # the record says "deceased", so ketamine is contraindicated: an override reason is typed
    c = new_course(
        api, pid, regimen="ketamine-iv-weekly", weight_kg=70, start=REAL_DAY, override_reason=PLANT
    )
    body = hypertensive_ketamine_body(
        c["id"],
        notes=PLANT,
        unresolved=[PLANT],
        override_reason=PLANT,
        adverse_events=[
            {"event": PLANT, "severity": "mild"},
            {"event": "nausea", "severity": "mild"},
        ],
    )
    r = api.client.post("/sessions", json=body, headers=h)
    assert r.status_code == 201, r.text
    s = r.json()
    alert = next(a for a in s["alerts"] if a["blocks_discharge"])
    ack = api.client.post(
        f"/alerts/{alert['id']}/acknowledge",
        json={"note": PLANT, "signature": signature(api)},
        headers=h,
    )
    assert ack.status_code == 200, ack.text
    items = {str(i): 2 for i in range(1, 10)} | {"10": 0}
    post_rating(api, pid, "MADRS", items, f"{REAL_DAY}T09:00:00+00:00")
    return {"patient": pid, "course": c["id"], "session": s["id"], "research_id": r.json()}


def _leaks(text: str, api, *, dates: bool = True) -> list[str]:
    """What of the plant shows in ``text``; ``dates=False`` for lists spanning other tests'
    patients, whose own shifted dates may fall on the planted day."""
    found = [m for m in PLANT_MARKS if m in text]
    if dates and REAL_DAY in text:
        found.append(f"real date {REAL_DAY}")
    # the year as a value or in a date; not digits inside an id or a time's fraction
    if re.search(r"(?<![\w.])1931(?!\w)", text):
        found.append("birth year 1931")
    if api.world.usernames["clinician"] in text:
        found.append("clinician's username")
    return found


def _api_reads(ids) -> list[str]:
    p, c, s = ids["patient"], ids["course"], ids["session"]
    return [
        "/patients?limit=200",
        f"/patients/{p}/summary",
        f"/patients/{p}/history",
        f"/patients/{p}/courses",
        f"/patients/{p}/assessments",
        f"/patients/{p}/screenings/latest",
        f"/courses/{c}",
        f"/sessions?patient_id={p}",
        f"/sessions/{s}",
        f"/alerts?patient_id={p}",
        "/alerts?limit=200",
        f"/fhir/Patient/{p}/$everything",
        "/research/export/sessions.csv",
        "/research/export/assessments.csv",
    ]


def test_the_planted_record_is_visible_to_its_clinician(api, planted):
    """The plant is really there (so the researcher test below can fail)."""
    h = api.h("clinician")
    s = api.client.get(f"/sessions/{planted['session']}", headers=h).text
    assert all(m in s for m in PLANT_MARKS) and REAL_DAY in s
    assert "Planted" in api.client.get(f"/patients/{planted['patient']}", headers=h).text


def test_no_researcher_read_leaks_free_text_names_or_real_dates(api, planted):
    read = []
    for url in _api_reads(planted):
        r = api.client.get(url, headers=api.h("researcher"))
        assert r.status_code in (200, 403, 404), (url, r.status_code, r.text[:300])
        if r.status_code == 200:
            read.append(url)
            one_patient = "limit=200" not in url and "export" not in url
            leaks = _leaks(r.text, api, dates=one_patient)
            assert leaks == [], (url, leaks)
    # the reads a researcher is meant to have: the test cannot pass by being refused
    assert {
        f"/patients/{planted['patient']}/summary",
        f"/sessions/{planted['session']}",
        f"/fhir/Patient/{planted['patient']}/$everything",
        "/research/export/sessions.csv",
    } <= set(read)


def test_researcher_values_are_shifted_top_coded_and_withheld(api, planted):
    h = api.h("researcher")
    s = api.client.get(f"/sessions/{planted['session']}", headers=h).json()
    assert s["start"].startswith("2025-09-27")  # 2026-01-05 moved 100 days back
    assert s["notes"] == "[withheld: free text]" and s["discharged_by"] is None
    assert [e["event"] for e in s["adverse_events"]] == ["other (free text withheld)", "nausea"]
    summary = api.client.get(f"/patients/{planted['patient']}/summary", headers=h).json()
    assert summary["patient"]["birth_year"] is None  # 95 years old: the year is withheld
    conditions = summary["patient"]["facts"]["conditions"]
    medications = summary["patient"]["facts"]["medications"]
    assert conditions == [
        {"text": "[withheld: free text]"},
        {"system": "http://snomed.info/sct", "code": "35489007", "text": "[withheld: free text]"},
        {"text": "[withheld: free text]"},
    ]
    assert medications[0]["text"] == "[withheld: free text]" and medications[0]["code"] == "36437"
    madrs = summary["scores"][0]
    assert madrs["latest"]["administered_at"].startswith("2025-09-27")


def test_every_researcher_read_is_audited(api, planted, database):
    with database.transaction(write=False) as s:
        before = s.scalar(select(func.count()).select_from(AuditEvent))
    url = f"/patients/{planted['patient']}/summary"
    assert api.client.get(url, headers=api.h("researcher")).status_code == 200
    with database.transaction(write=False) as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).all()
        after = s.scalar(select(func.count()).select_from(AuditEvent))
    assert after == before + 1
    assert rows[0].action == "read" and rows[0].username == api.world.usernames["researcher"]
    assert rows[0].detail == f"GET {url}"


def test_researcher_web_pages_leak_nothing(client, api, planted):
    web = TestClient(client.app, raise_server_exceptions=False)
    r = web_login(web, api.world.usernames["researcher"], PASSWORD)
    assert r.status_code == 303, r.text
    pid, sid = planted["patient"], planted["session"]
    pages = [
        "/ui/patients",
        f"/ui/patients/{pid}",
        f"/ui/sessions/{sid}",
        "/ui/cohort",
        f"/ui/courses/{planted['course']}/sessions/new",
    ]
    shown = 0
    for url in pages:
        page = web.get(url)
        assert page.status_code in (200, 403, 404), (url, page.status_code)
        if page.status_code == 200:
            shown += 1
            leaks = _leaks(page.text, api, dates=url not in ("/ui/patients", "/ui/cohort"))
            assert leaks == [], (url, leaks)
    assert shown >= 3
    assert not re.search(r"\b(?:9[0-9]|1[0-9]{2}) years\b", web.get(f"/ui/patients/{pid}").text)
    assert AGE_TOP_CODE == 90


def test_researchers_get_no_clinical_forms(client, api, planted):
    """The forms that record a session or preview a plan are for clinicians (they show what
    screening says, which quotes the record)."""
    web = TestClient(client.app, raise_server_exceptions=False)
    web_login(web, api.world.usernames["researcher"], PASSWORD)
    csrf = {"X-CSRF-Token": web.cookies.get("raad_csrf", "")}
    assert web.get(f"/ui/courses/{planted['course']}/sessions/new").status_code == 403
    r = web.post(f"/ui/patients/{planted['patient']}/plan-preview", data={}, headers=csrf)
    assert r.status_code == 403


def test_dates_inside_alert_messages_are_shifted_for_researchers(api):
    """A break test: "2 esketamine sessions on 2026-11-30" gave the real day (and so the
    patient's shift) away."""
    from tests.api.helpers import new_patient, session_body

    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    for hour in (9, 13):
        api.client.post(
            "/sessions",
            json=session_body(
                c["id"],
                start=f"2026-01-05T{hour:02d}:00:00+00:00",
                n2o_fraction=None,
                dose_mg=56,
                route=None,
            ),
            headers=api.h("clinician"),
        )
    mine = api.client.get(
        "/alerts", params={"patient_id": p["id"]}, headers=api.h("clinician")
    ).json()["items"]
    assert any("2026-01-05" in a["message"] for a in mine)
    theirs = api.client.get(
        "/alerts", params={"patient_id": p["id"]}, headers=api.h("researcher")
    ).json()["items"]
    assert theirs and not any("2026-01-05" in a["message"] for a in theirs)
