"""The admin pages (issue 17): user accounts and the audit trail of a patient or one record,
through the same services (and refusals) as the API; plus the reads the audit trail keeps:
refused requests, CDS Hooks calls and reads of the trail itself."""

from __future__ import annotations

import re
import secrets

import pytest

from raad.interop.cds_hooks import PREFETCH
from tests.api.helpers import browser_as, new_course, new_patient, session_body
from tests.dbfixtures import PASSWORD


def _events(api, **params) -> list[dict]:
    r = api.client.get("/audit", params={"limit": 200, **params}, headers=api.h("admin"))
    assert r.status_code == 200, r.text
    total = r.json()["total"]
    if total > 200:
        r = api.client.get(
            "/audit", params={"limit": 200, "offset": total - 200, **params}, headers=api.h("admin")
        )
    return r.json()["items"]


@pytest.fixture(scope="module")
def admin_web(api):
    return browser_as(api, "admin")


def test_the_users_page_lists_accounts_and_changes_them(api, admin_web, database):
    from raad.services import auth

    name = f"page.{secrets.token_hex(3)}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "clinician", api.world.site)
    page = admin_web.get("/ui/admin/users")
    assert page.status_code == 200 and f'id="user-{name}"' in page.text
    r = admin_web.post(
        f"/ui/admin/users/{name}", data={"action": "set-name", "full_name": "Dr  Page   Test"}
    )
    assert r.status_code == 204, r.text
    r = admin_web.post(f"/ui/admin/users/{name}", data={"action": "disable"})
    assert r.status_code == 204
    users = {u["username"]: u for u in api.client.get("/users", headers=api.h("admin")).json()}
    assert users[name]["full_name"] == "Dr Page Test" and users[name]["active"] is False
    # the same refusals as the API: a weak password, an unknown action, an unknown user
    weak = admin_web.post(
        f"/ui/admin/users/{name}", data={"action": "set-password", "password": "password1234"}
    )
    assert "password" in weak.text and weak.status_code == 200
    unknown = admin_web.post(f"/ui/admin/users/{name}", data={"action": "explode"})
    assert "action" in unknown.text and "disable" in unknown.text
    missing = admin_web.post("/ui/admin/users/nobody.at.all", data={"action": "enable"})
    assert "not found" in missing.text


def test_creating_a_user_from_the_page(api, admin_web):
    name = f"made.{secrets.token_hex(3)}"
    r = admin_web.post(
        "/ui/admin/users",
        data={
            "username": name,
            "password": "a long passphrase nobody guesses",
            "role": "clinician",
            "site": api.world.site,
            "full_name": "Dr Made Here",
        },
    )
    assert r.status_code == 204, r.text
    users = {u["username"]: u for u in api.client.get("/users", headers=api.h("admin")).json()}
    assert users[name]["full_name"] == "Dr Made Here" and users[name]["site"] == api.world.site
    again = admin_web.post(
        "/ui/admin/users",
        data={
            "username": name.upper(),
            "password": "another long passphrase",
            "role": "researcher",
        },
    )
    assert "already exists" in again.text


def test_clinicians_are_refused_and_the_refusal_is_kept(api):
    web = browser_as(api, "clinician")
    for url in ("/ui/admin/users", "/ui/admin/audit"):
        r = web.get(url)
        assert r.status_code == 403 and "allowed: admin" in r.text
    r = web.post(f"/ui/admin/users/{api.world.usernames['admin']}", data={"action": "disable"})
    assert "allowed: admin" in r.text
    denied = [
        e
        for e in _events(api, action="denied")
        if e["username"] == api.world.usernames["clinician"]
    ]
    assert {e["detail"].split(":")[0] for e in denied} >= {
        "GET /ui/admin/users",
        "GET /ui/admin/audit",
    }
    # and over the API too
    assert api.client.get("/users", headers=api.h("clinician")).status_code == 403
    assert any(
        e["detail"].startswith("GET /users")
        for e in _events(api, action="denied")
        if e["username"] == api.world.usernames["clinician"]
    )


def test_the_audit_trail_of_one_record(api, admin_web):
    p = new_patient(api)
    c = new_course(api, p["id"])
    s = api.client.post("/sessions", json=session_body(c["id"]), headers=api.h("clinician")).json()
    changed = api.client.patch(
        f"/sessions/{s['id']}",
        json={"notes": "tolerated well", "reason": "late entry"},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert changed.status_code == 200, changed.text
    page = admin_web.get("/ui/admin/audit", params={"entity": "session", "entity_id": s["id"]})
    assert page.status_code == 200
    assert f"Audit trail of session #{s['id']}" in page.text
    assert "late entry" in page.text and "2 events" in page.text
    # the trail of the course does not hold the session's rows
    course_page = admin_web.get(
        "/ui/admin/audit", params={"entity": "course", "entity_id": c["id"]}
    )
    assert "late entry" not in course_page.text
    # the read of the trail is itself in the trail
    reads = _events(api, entity="audit-trail")
    assert any(e["detail"] == f"entity=session, entity_id={s['id']}" for e in reads)
    bad = admin_web.get("/ui/admin/audit", params={"entity": "everything"})
    assert bad.status_code == 422 and "entity" in bad.text
    bad = admin_web.get("/ui/admin/audit", params={"entity_id": "1e9"})
    assert bad.status_code == 422


def test_cds_hooks_calls_are_kept(api):
    ehr_id = f"ehr-{secrets.token_hex(3)}"
    req = {
        "hook": "patient-view",
        "hookInstance": "x",
        "context": {"patientId": ehr_id},
        "prefetch": {k: None for k in PREFETCH}
        | {"patient": {"resourceType": "Patient", "id": ehr_id}},
    }
    ok = api.client.post("/cds-services/raad-screening", json=req, headers=api.h("clinician"))
    assert ok.status_code == 200
    calls = _events(api, entity="cds-call")
    (mine,) = [e for e in calls if req["context"]["patientId"] in (e["detail"] or "")]
    assert mine["entity_id"] == "raad-screening"
    assert mine["detail"].endswith(f"{len(ok.json()['cards'])} card(s)")
    assert mine["username"] == api.world.usernames["clinician"]


def test_the_patient_list_pages_by_name(api, database):
    """Issue 18: the list stopped silently at 100, oldest first. Now by name, 100 a page,
    with the total and a link to the next page."""
    from raad.services import patients
    from raad.services.schemas import IdentityIn, PatientIn

    tag = secrets.token_hex(2)
    with database.transaction() as s:
        for i in range(103):
            patients.register(
                s,
                api.world.clinician,
                PatientIn(
                    identity=IdentityIn(
                        given_name="P", family_name=f"Zpage{tag}-{i:03d}", mrn=f"ZP-{tag}-{i}"
                    )
                ),
            )
    web = browser_as(api, "clinician")
    first = web.get("/ui/patients", params={"q": f"Zpage{tag}"})
    assert first.status_code == 200
    names = re.findall(rf"Zpage{tag}-(\d+)", first.text)
    assert names[:3] == ["000", "001", "002"] and len(set(names)) == 100
    assert "1\u2013100 of 103 patients, by name" in first.text and "offset=100" in first.text
    second = web.get("/ui/patients", params={"q": f"Zpage{tag}", "offset": 100})
    assert sorted(set(re.findall(rf"Zpage{tag}-(\d+)", second.text))) == ["100", "101", "102"]
    assert "101\u2013103 of 103" in second.text


def test_search_words_are_not_wildcards(api, database):
    web = browser_as(api, "clinician")
    p = new_patient(api)
    page = web.get("/ui/patients", params={"q": "%"}).text
    assert p["identity"]["family_name"] not in page  # "%" matches itself, not everyone
    page = web.get("/ui/patients", params={"offset": 99999}).text
    assert "No patients on this page" in page


def test_an_admin_sets_a_sites_self_report_and_crisis_resources(api):
    admin = browser_as(api, "admin")
    page = admin.get("/ui/admin/sites")
    assert page.status_code == 200 and api.world.site in page.text
    bare = admin.post(f"/ui/admin/sites/{api.world.site}", data={"self_report": "1"})
    assert "crisis_text" in bare.text  # refused: self-report needs the crisis resources
    ok = admin.post(
        f"/ui/admin/sites/{api.world.site}",
        data={"self_report": "1", "crisis_text": "Call 999 in an emergency.", "time_zone": "UTC"},
    )
    assert ok.status_code == 204, ok.text
    shown = admin.get("/ui/admin/sites").text
    assert "Call 999 in an emergency." in shown
    assert browser_as(api, "clinician").get("/ui/admin/sites").status_code == 403
    admin.post(
        f"/ui/admin/sites/{api.world.site}",
        data={"crisis_text": "Call 999 in an emergency.", "time_zone": "UTC"},
    )  # self-report off again for the module's other tests
