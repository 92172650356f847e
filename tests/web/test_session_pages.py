"""The session form and page (issue 18): the vital-signs series, lot numbers, concomitant
medicines, the checklist (inside the form now, saved), who monitored and when the patient was
ready to leave go through the web form; the esketamine dose is prefilled as a number (it showed
"[56]" and saving the default failed); the page names the patient, links back, shows what was
stored and links the PDFs."""

from __future__ import annotations

import re

from tests.api.helpers import browser_as, new_course, new_patient


def test_an_esketamine_session_through_the_web_form(api):
    web = browser_as(api)
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    page = web.get(f"/ui/courses/{c['id']}/sessions/new").text
    assert 'name="dose_mg" inputmode="decimal" value="56"' in page  # not "[56]"
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    checks = re.findall(r'name="check_shown" value="([^"]+)"', page)
    assert checks and '<form id="session-form"' in page.split("Before the session")[0]
    form = {
        "form_token": token,
        "start": "2026-01-05T10:00",
        "dose_mg": "56",
        "observation_min": "125",
        "check_shown": checks,
        "check": [checks[0]],
        "v0_time": "2026-01-05T09:55",
        "v0_systolic": "128",
        "v0_diastolic": "79",
        "v0_spo2": "99",
        "v1_time": "2026-01-05T10:41",
        "v1_systolic": "138",
        "v1_diastolic": "84",
        "v1_moaas": "4",
        "lot_numbers": "ESK-1, ESK-2",
        "cm_benzodiazepines": "no",
        "cm_opioids": "yes",
        "observed_by": "Nurse Kim",
        "ready_to_leave_at": "2026-01-05T12:05",
    }
    r = web.post(f"/ui/courses/{c['id']}/sessions", data=form)
    assert r.status_code == 204, r.text
    sid = int(r.headers["hx-redirect"].rsplit("/", 1)[1])
    s = api.client.get(f"/sessions/{sid}", headers=api.h("clinician")).json()
    assert [v["moaas"] for v in s["vitals"]] == [None, 4] and s["dose_mg"] == 56
    assert s["checklist"] == {checks[0]: True, **{x: False for x in checks[1:]}}
    assert s["concomitant"] == {"benzodiazepines": False, "opioids": True}
    assert s["lot_numbers"] == ["ESK-1", "ESK-2"] and s["observed_by"] == "Nurse Kim"
    codes = {a["code"] for a in s["alerts"]}
    assert "bp-pre-missing" not in codes and "bp-post-missing" not in codes
    # the page
    shown = web.get(f"/ui/sessions/{sid}").text
    assert f'href="/ui/patients/{p["id"]}"' in shown and p["identity"]["family_name"] in shown
    assert "ESK-1, ESK-2" in shown and "Nurse Kim" in shown and "4 (lethargic" in shown
    assert f'href="/sessions/{sid}/rems-form.pdf"' in shown and "Due by 2026-01-12" in shown
    assert f'href="/sessions/{sid}/record.pdf"' in shown
    pdf = web.get(f"/sessions/{sid}/rems-form.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    early = web.post(f"/ui/sessions/{sid}/rems-submitted")
    assert "not discharged yet" in early.text


def test_a_reading_without_its_time_is_refused_by_name(api):
    web = browser_as(api)
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    page = web.get(f"/ui/courses/{c['id']}/sessions/new").text
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    r = web.post(
        f"/ui/courses/{c['id']}/sessions",
        data={"form_token": token, "start": "2026-01-05T10:00", "dose_mg": "56", "v2_spo2": "97"},
    )
    assert "vitals[2].time" in r.text


def test_the_live_alerts_read_the_series(api):
    web = browser_as(api)
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    r = web.post(
        f"/ui/courses/{c['id']}/sessions/preview",
        data={
            "start": "2026-01-05T10:00",
            "dose_mg": "56",
            "v0_time": "2026-01-05T09:58",
            "v0_systolic": "130",
            "v0_diastolic": "80",
            "v1_time": "2026-01-05T10:41",
            "v1_systolic": "190",
            "v1_diastolic": "112",
        },
    )
    assert r.status_code == 200 and "After dosing (at 41 min)" in r.text, r.text[:500]
    assert "No blood pressure recorded before dosing" not in r.text


def test_the_plan_preview_uses_the_recorded_birth_date(api):
    """Issue 18: the preview said "age not given" although the birth date was recorded."""
    web = browser_as(api)
    p = new_patient(api)  # born 1980-05-01
    r = web.post(
        f"/ui/patients/{p['id']}/plan-preview",
        data={"regimen": "esketamine-label", "start": "2026-12-01"},
    )
    assert r.status_code == 200 and "2026-12-01" in r.text
    assert "age not given" not in r.text.lower() and "56 mg" in r.text


def test_pages_speak_plainly_not_python(api):
    """Issue 18: Python values leaked onto pages ("True", "8.0", "[]")."""
    web = browser_as(api)
    p = new_patient(api, systolic_mmhg=128, diastolic_mmhg=82)
    r = api.client.post(
        f"/patients/{p['id']}/history",
        json={"drug": "sertraline", "weeks": 8, "adequate_dose": True, "current_episode": None},
        headers=api.h("clinician"),
    )
    assert r.status_code == 201, r.text
    page = web.get(f"/ui/patients/{p['id']}").text
    at = page.index("<td>sertraline</td>")
    row = page[at : page.index("</tr>", at)]
    assert "<td>8</td><td>yes</td>" in row and "<td>unknown</td>" in row, row
    for leak in ("True", "False", "None", "8.0", "[]", "128.0"):
        assert f">{leak}<" not in page and f'value="{leak}"' not in page, leak


def test_the_evidence_explorer_refuses_unknown_choices_with_a_page(api):
    """Issue 18: the evidence explorer showed raw JSON errors and accepted an unknown agent."""
    web = browser_as(api)
    assert web.get("/ui/evidence").status_code == 200
    for params, field in (
        ({"agent": "lsd"}, "agent"),
        ({"time": "1y"}, "time"),
        ({"dose": "lots"}, "dose"),
        ({"dose": "500"}, "dose"),
    ):
        r = web.get("/ui/evidence", params=params)
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), params
        assert field in r.text and '"error":' not in r.text
    svg = web.get("/ui/evidence/forest.svg", params={"agent": "lsd"})
    assert svg.status_code == 422 and "agent" in svg.text
    # a bad path parameter on a web page: the page, not JSON
    r = web.get("/ui/patients/not-a-number")
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")


def test_details_and_history_are_edited_with_a_reason(api):
    """Issue 18: demographics and history could not be edited in the UI."""
    web = browser_as(api)
    p = new_patient(api)
    form = {
        "version": "1",
        "given_name": "Edited",
        "family_name": p["identity"]["family_name"],
        "mrn": p["identity"]["mrn"],
        "birth_date": "1981-06-02",
        "sex": "male",
    }
    assert "reason" in web.post(f"/ui/patients/{p['id']}/details", data=form).text
    ok = web.post(f"/ui/patients/{p['id']}/details", data=dict(form, reason="name misspelt"))
    assert ok.status_code == 204, ok.text
    got = api.client.get(f"/patients/{p['id']}", headers=api.h("clinician")).json()
    assert got["identity"]["given_name"] == "Edited" and got["sex"] == "male"
    # the same page sent again (version 1) is refused: the record changed meanwhile
    stale = web.post(f"/ui/patients/{p['id']}/details", data=dict(form, reason="again"))
    assert "version" in stale.text
    t = api.client.post(
        f"/patients/{p['id']}/history", json={"drug": "citalopram"}, headers=api.h("clinician")
    ).json()
    r = web.post(
        f"/ui/patients/{p['id']}/history/{t['id']}/remove", data={"reason": "wrong patient"}
    )
    assert r.status_code == 204
    assert (
        api.client.get(f"/patients/{p['id']}", headers=api.h("clinician")).json()["history"] == []
    )
    trail = api.client.get(
        "/audit", params={"patient_id": p["id"], "action": "delete"}, headers=api.h("admin")
    ).json()["items"]
    assert [e["reason"] for e in trail] == ["wrong patient"]


def test_readings_and_observation_are_added_as_the_session_goes_on(api):
    """The 40-minute reading comes after the session was saved: added from the session page,
    it clears the missing-reading alert; observation and ready-to-leave follow."""
    web = browser_as(api)
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    s = api.client.post(
        "/sessions",
        json={
            "course_id": c["id"],
            "start": "2026-01-05T10:00:00+00:00",
            "dose_mg": 56,
            "vitals": [{"time": "2026-01-05T09:55:00+00:00", "systolic": 126, "diastolic": 78}],
        },
        headers=api.h("clinician"),
    ).json()
    assert "bp-post-missing" in {a["code"] for a in s["alerts"]}
    page = web.get(f"/ui/sessions/{s['id']}").text
    assert "Add a reading" in page and "Observation and leaving" in page
    r = web.post(
        f"/ui/sessions/{s['id']}/reading",
        data={
            "version": "1",
            "time": "2026-01-05T10:42",
            "systolic": "134",
            "diastolic": "82",
            "spo2": "98",
            "moaas": "5",
        },
    )
    assert r.status_code == 204, r.text
    # the page it goes back to confirms the save (fixed words, not the query's text)
    assert r.headers["hx-redirect"] == f"/ui/sessions/{s['id']}?saved=reading"
    assert 'role="status">Reading saved.' in web.get(r.headers["hx-redirect"]).text
    forged = web.get(f"/ui/sessions/{s['id']}", params={"saved": "<script>x</script>"}).text
    assert "<script>x" not in forged and 'class="saved"' not in forged
    got = api.client.get(f"/sessions/{s['id']}", headers=api.h("clinician")).json()
    assert len(got["vitals"]) == 2 and got["vitals"][1]["moaas"] == 5
    assert "bp-post-missing" not in {a["code"] for a in got["alerts"]}
    stale = web.post(
        f"/ui/sessions/{s['id']}/reading",
        data={"version": "1", "time": "2026-01-05T11:00", "heart_rate": "70"},
    )
    assert "version" in stale.text  # the page was stale: refused, nothing lost
    r = web.post(
        f"/ui/sessions/{s['id']}/observation",
        data={
            "version": str(got["version"]),
            "observation_min": "125",
            "ready_to_leave_at": "2026-01-05T12:06",
        },
    )
    assert r.status_code == 204, r.text
    got = api.client.get(f"/sessions/{s['id']}", headers=api.h("clinician")).json()
    assert got["observation_min"] == 125 and got["ready_to_leave_at"] == "2026-01-05T12:06:00+00:00"
    # changing the recorded time ready to leave is a correction: it needs the reason field
    fix = {
        "version": str(got["version"]),
        "observation_min": "125",
        "ready_to_leave_at": "2026-01-05T12:16",
    }
    refused = web.post(f"/ui/sessions/{s['id']}/observation", data=fix)
    assert refused.status_code == 200 and "reason" in refused.text
    done = web.post(
        f"/ui/sessions/{s['id']}/observation", data={**fix, "reason": "typed the wrong minute"}
    )
    assert done.status_code == 204, done.text
    trail = api.client.get(
        "/audit",
        params={"entity": "session", "entity_id": s["id"], "action": "update"},
        headers=api.h("admin"),
    ).json()["items"]
    assert [e["reason"] for e in trail] == [None, None, "typed the wrong minute"]


def test_the_rems_time_points_show_what_is_missing_and_the_course_prints(api):
    web = browser_as(api)
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="esketamine-label")
    s = api.client.post(
        "/sessions",
        json={
            "course_id": c["id"],
            "start": "2026-01-05T10:00:00+00:00",
            "dose_mg": 56,
            "vitals": [{"time": "2026-01-05T09:55:00+00:00", "systolic": 126, "diastolic": 78}],
        },
        headers=api.h("clinician"),
    ).json()
    page = web.get(f"/ui/sessions/{s['id']}").text
    points = page[
        page.index('<ul class="points">') : page.index("</ul>", page.index('<ul class="points">'))
    ]
    assert "Prior to administration: 126/78 mmHg" in points
    assert '40 min post-administration: <strong class="error">missing</strong>' in points
    pdf = web.get(f"/courses/{c['id']}/summary.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    import io

    from pypdf import PdfReader

    text = "\n".join(pg.extract_text() for pg in PdfReader(io.BytesIO(pdf.content)).pages)
    assert (
        "esketamine-label" in text
        and "126/78 mmHg" in text
        and p["identity"]["family_name"] in text
    )
    assert (
        api.client.get(f"/courses/{c['id']}/summary.pdf", headers=api.h("researcher")).status_code
        == 403
    )
