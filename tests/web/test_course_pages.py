"""The patient page's course controls (issue 17): a status change needs a reason (kept in the
audit trail), and a finished course is signed and locked with the password typed again; an
admin unlocks it with a reason. Through the web routes as a browser posts them."""

from __future__ import annotations

from tests.api.helpers import (
    browser_as,
    new_course,
    new_patient,
    session_body,
    signature,
)
from tests.dbfixtures import PASSWORD


def test_status_lock_and_unlock_from_the_patient_page(api):
    web = browser_as(api, "clinician")
    p = new_patient(api)
    c = new_course(api, p["id"])
    s = api.client.post("/sessions", json=session_body(c["id"]), headers=api.h("clinician")).json()
    page = web.get(f"/ui/patients/{p['id']}")
    assert "Change status" in page.text and "Sign and lock" not in page.text  # still active

    no_reason = web.post(
        f"/ui/courses/{c['id']}/status", data={"status": "completed", "version": "1"}
    )
    assert "reason" in no_reason.text
    done = web.post(
        f"/ui/courses/{c['id']}/status",
        data={"status": "completed", "version": "1", "reason": "course finished as planned"},
    )
    assert done.status_code == 204, done.text
    trail = api.client.get(
        "/audit", params={"entity": "course", "entity_id": c["id"]}, headers=api.h("admin")
    ).json()["items"]
    assert [e["reason"] for e in trail if e["action"] == "update"] == ["course finished as planned"]

    page = web.get(f"/ui/patients/{p['id']}")
    assert "Sign and lock this course" in page.text and "I approve this course record" in page.text
    # the session is not discharged yet: refused, with the session named
    r = web.post(
        f"/ui/courses/{c['id']}/lock",
        data={
            "version": "2",
            "sign_username": api.world.usernames["clinician"],
            "sign_password": PASSWORD,
        },
    )
    assert f"#{s['id']}" in r.text
    api.client.post(
        f"/sessions/{s['id']}/discharge",
        json={"signature": signature(api)},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    no_password = web.post(f"/ui/courses/{c['id']}/lock", data={"version": "2"})
    assert "signature" in no_password.text
    locked = web.post(
        f"/ui/courses/{c['id']}/lock",
        data={
            "version": "2",
            "sign_username": api.world.usernames["clinician"],
            "sign_password": PASSWORD,
        },
    )
    assert locked.status_code == 204, locked.text
    page = web.get(f"/ui/patients/{p['id']}")
    assert "signed and locked" in page.text and "approval" in page.text
    assert "Change status" not in page.text.split(f'id="course-{c["id"]}"')[1].split("</li>")[0]

    # clinicians have no unlock; an admin unlocks with a reason
    assert "Unlock (admin)" not in page.text
    admin = browser_as(api, "admin")
    page = admin.get(f"/ui/patients/{p['id']}")
    assert "Unlock (admin)" in page.text
    version = api.client.get(f"/courses/{c['id']}", headers=api.h("admin")).json()["version"]
    r = admin.post(
        f"/ui/courses/{c['id']}/unlock",
        data={"version": str(version), "reason": "discharge time entered wrongly"},
    )
    assert r.status_code == 204, r.text
    shown = api.client.get(f"/courses/{c['id']}", headers=api.h("clinician")).json()
    assert shown["locked_at"] is None
    assert shown["signatures"][0]["withdrawn_reason"] == "discharge time entered wrongly"
