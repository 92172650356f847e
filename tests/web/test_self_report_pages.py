"""The clinician's pages for self-report (issue 19): contact with consent, a link made and
shown once, the patient's answers on the patient page (with their own marker on the
trajectory), the side-effect diary as a timeline, the due and missed list, withdrawing a
link."""

from __future__ import annotations

import re

from tests.api.helpers import browser_as, new_patient

CRISIS = "Call 999 in an emergency, or the crisis line on 0800 000 000."


def _enable(api) -> None:
    r = api.client.patch(
        f"/sites/{api.world.site}",
        json={"self_report": True, "crisis_text": CRISIS},
        headers=api.h("admin"),
    )
    assert r.status_code == 200, r.text


def test_from_contact_to_the_patients_answers_on_their_page(api):
    _enable(api)
    web = browser_as(api)
    p = new_patient(api)
    page = web.get(f"/ui/patients/{p['id']}").text
    assert "Self-report from home" in page and "Make a link" in page
    no_consent = web.post(
        f"/ui/patients/{p['id']}/contact", data={"channel": "email", "email": "a@example.org"}
    )
    assert "consent" in no_consent.text
    ok = web.post(
        f"/ui/patients/{p['id']}/contact",
        data={"channel": "email", "email": "a@example.org", "consent": "1"},
    )
    assert ok.status_code == 204
    assert "email to a@example.org, consent recorded" in web.get(f"/ui/patients/{p['id']}").text
    made = web.post(f"/ui/patients/{p['id']}/self-report", data={"instrument": "PHQ-9"})
    assert made.status_code == 200 and "shown this once" in made.text
    url = re.search(r'class="link-once">([^<]+)<', made.text).group(1)
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    answers = {**{str(i): 0 for i in range(1, 9)}, "1": 2, "9": 1}
    thanks = api.client.post(path, data=answers)
    assert thanks.status_code == 200 and CRISIS in thanks.text
    page = web.get(f"/ui/patients/{p['id']}").text
    assert "patient, from home" in page
    assert "answered" in page.split("Self-report from home", 1)[1]
    svg = web.get(f"/ui/patients/{p['id']}/trajectory.svg").text
    assert "answered from home" in svg
    due = web.get("/ui/self-report").text
    assert "Questionnaires from home" in due and "response rate" in due


def test_withdrawing_a_link_and_the_due_list(api):
    _enable(api)
    web = browser_as(api)
    p = new_patient(api)
    made = web.post(f"/ui/patients/{p['id']}/self-report", data={"instrument": "QIDS-SR16"})
    assert made.status_code == 200
    links = api.client.get(f"/patients/{p['id']}/self-report", headers=api.h("clinician")).json()
    waiting = web.get("/ui/self-report").text.split("Waiting for an answer", 1)[1]
    assert p["identity"]["family_name"] in waiting.split("Missed", 1)[0]
    gone = web.post(f"/ui/self-report/{links[0]['id']}/revoke", data={"reason": "sent twice"})
    assert gone.status_code == 204
    page = web.get(f"/ui/patients/{p['id']}").text
    assert "revoked" in page and "sent twice" in page
    assert browser_as(api, "researcher").get("/ui/self-report").status_code == 403


def test_the_diary_shows_as_a_timeline(api):
    _enable(api)
    web = browser_as(api)
    p = new_patient(api)
    for day in ({"insomnia": 1, "vivid_dreams": 1}, {"insomnia": 0, "headache": 1}):
        link = api.client.post(
            f"/patients/{p['id']}/self-report",
            json={"instrument": "LDN-DIARY"},
            headers=api.h("clinician"),
        ).json()
        full = {"insomnia": 0, "vivid_dreams": 0, "headache": 0, "nausea": 0, "dizziness": 0}
        r = api.client.post(
            "/" + link["url"].split("://", 1)[1].split("/", 1)[1], data={**full, **day}
        )
        assert r.status_code == 200, r.text
    page = web.get(f"/ui/patients/{p['id']}").text
    timeline = page.split("Side-effect diary", 1)[1].split("</table>", 1)[0]
    assert "Vivid dreams" in timeline and timeline.count("<tr><td>") == 2
    assert timeline.count(">yes<") == 3


def test_response_rates_in_the_cohort_view_and_my_patients(api, database):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from raad.store.models import SelfReportLink

    _enable(api)
    web = browser_as(api)
    p = new_patient(api)
    links = [
        api.client.post(
            f"/patients/{p['id']}/self-report",
            json={"instrument": "QIDS-SR16"},
            headers=api.h("clinician"),
        ).json()
        for _ in range(2)
    ]
    qids = {str(i): 0 for i in range(1, 17)}
    api.client.post("/" + links[0]["url"].split("://", 1)[1].split("/", 1)[1], data=qids)
    with database.transaction() as s:
        s.execute(
            update(SelfReportLink)
            .where(SelfReportLink.id == links[1]["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    page = web.get("/ui/cohort").text
    home = page.split("Questionnaires from home", 1)[1]
    row = home.split("<td>QIDS-SR16</td>", 1)[1].split("</tr>", 1)[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    closed, answered, missed = (int(x) for x in cells[:3])
    assert answered >= 1 and missed >= 1 and closed == answered + missed
    mine = api.client.get("/self-report/due", params={"mine": True}, headers=api.h("clinician"))
    assert links[1]["id"] in [r["id"] for r in mine.json()["missed"]]
    theirs = api.client.get(
        "/self-report/due", params={"mine": True}, headers=api.h("other_clinician")
    ).json()
    assert theirs["due"] == [] and theirs["missed"] == []


def test_an_admin_picks_the_site(api):
    admin = browser_as(api, "admin")
    page = admin.get("/ui/self-report")
    assert page.status_code == 200 and "Name the site" in page.text
    _enable(api)
    assert (
        "Waiting for an answer"
        in admin.get("/ui/self-report", params={"site": api.world.site}).text
    )
