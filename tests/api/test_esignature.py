"""Electronic signatures (issue 17; 21 CFR Part 11 style, knowledge/esignature.yaml): discharge,
alert acknowledgement and locking a course need the signer's own username and password again
(and the two-factor code when on); the signature shows printed name, time and meaning, keeps the
record's SHA-256 (a later change shows), and a wrong password signs nothing and counts toward
the lock-out."""

from __future__ import annotations

import secrets
import time

import pyotp
import pytest
from sqlalchemy import select, text

from raad.services import auth
from raad.store.models import Signature, User
from tests.api.helpers import (
    hypertensive_ketamine_body,
    new_course,
    new_patient,
    session_body,
    signature,
)
from tests.dbfixtures import PASSWORD


def _session(api, **over):
    p = new_patient(api)
    c = new_course(api, p["id"])
    r = api.client.post("/sessions", json=session_body(c["id"], **over), headers=api.h("clinician"))
    assert r.status_code == 201, r.text
    return p, c, r.json()


def _discharge(api, sid, sig, version=1, role="clinician"):
    body = {} if sig is None else {"signature": sig}
    return api.client.post(
        f"/sessions/{sid}/discharge", json=body, headers=api.h(role, **{"If-Match": f'"{version}"'})
    )


@pytest.fixture
def signer(api, database):
    """A clinician of the world's site of one's own (its lock-out counter is this test's)."""
    name = f"signer.{secrets.token_hex(4)}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "clinician", api.world.site, full_name="Dr Ada Signer")
    r = api.client.post("/auth/token", data={"username": name, "password": PASSWORD})
    return name, {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_discharge_without_a_signature_is_refused_and_changes_nothing(api):
    _, _, s = _session(api)
    for body in (None, {}):
        r = api.client.post(
            f"/sessions/{s['id']}/discharge",
            json=body,
            headers=api.h("clinician", **{"If-Match": '"1"'}),
        )
        assert r.status_code == 422 and r.json()["field"] == "signature", r.text
        assert "responsibility" not in r.json()["message"] or "password" in r.json()["message"]
    got = api.client.get(f"/sessions/{s['id']}", headers=api.h("clinician")).json()
    assert got["discharged_at"] is None and got["signatures"] == [] and got["version"] == 1


def test_a_signed_discharge_shows_name_time_meaning_and_matches_its_record(api, database):
    _, _, s = _session(api)
    r = _discharge(api, s["id"], signature(api))
    assert r.status_code == 200, r.text
    (sig,) = r.json()["signatures"]
    assert sig["printed_name"] == api.world.usernames["clinician"]  # no full name: the username
    assert sig["meaning"] == "discharge" and sig["meaning_label"] == "responsibility"
    assert sig["statement"].startswith("I take responsibility for this discharge")
    assert sig["signed_at"][:16] == r.json()["discharged_at"][:16]
    assert len(sig["record_sha256"]) == 64
    # the record as it is now still matches what was signed
    check = api.client.get(
        "/signatures",
        params={"entity": "session", "entity_id": s["id"]},
        headers=api.h("clinician"),
    ).json()
    assert [x["record_matches"] for x in check["signatures"]] == [True]
    assert check["record_sha256"] == sig["record_sha256"]
    # a change behind raad's back (straight in the database) shows as a mismatch
    with database.engine.begin() as conn:
        conn.execute(
            text("UPDATE administrations SET notes = 'changed later' WHERE id = :i"), {"i": s["id"]}
        )
    check = api.client.get(
        "/signatures",
        params={"entity": "session", "entity_id": s["id"]},
        headers=api.h("admin"),
    ).json()
    assert [x["record_matches"] for x in check["signatures"]] == [False]
    # and the signing is in the audit trail
    events = api.client.get(
        "/audit", params={"entity": "session", "entity_id": s["id"]}, headers=api.h("admin")
    ).json()["items"]
    assert any(e["action"] == "sign" and e["entity_id"] == str(s["id"]) for e in events)


def test_the_printed_name_is_the_accounts_full_name(api, signer):
    name, h = signer
    _, _, s = _session(api)
    r = api.client.post(
        f"/sessions/{s['id']}/discharge",
        json={"signature": {"username": name.upper(), "password": PASSWORD}},
        headers={**h, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["signatures"][0]["printed_name"] == "Dr Ada Signer"
    assert r.json()["signatures"][0]["username"] == name


def test_a_wrong_password_signs_nothing_and_counts_toward_the_lock_out(api, signer, database):
    name, h = signer
    _, _, s = _session(api)
    url = f"/sessions/{s['id']}/discharge"
    bad = {"signature": {"username": name, "password": "not the password at all"}}
    r = api.client.post(url, json=bad, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 401 and "nothing was signed" in r.json()["message"], r.text
    got = api.client.get(f"/sessions/{s['id']}", headers=api.h("clinician")).json()
    assert got["discharged_at"] is None and got["signatures"] == []
    with database.transaction(write=False) as tx:
        assert tx.scalar(select(User.failed_logins).where(User.username == name)) == 1
        assert (
            tx.scalar(
                select(Signature.id).where(
                    Signature.entity == "session", Signature.entity_id == s["id"]
                )
            )
            is None
        )
    for _ in range(auth.MAX_FAILED_LOGINS - 1):
        api.client.post(url, json=bad, headers={**h, "If-Match": '"1"'})
    # locked out: the session token no longer works and the right password is refused too
    after = api.client.post(
        url,
        json={"signature": {"username": name, "password": PASSWORD}},
        headers={**h, "If-Match": '"1"'},
    )
    assert after.status_code == 401
    login = api.client.post("/auth/token", data={"username": name, "password": PASSWORD})
    assert login.status_code == 401


def test_signing_with_another_users_name_is_refused(api):
    _, _, s = _session(api)
    other = {"username": api.world.usernames["admin"], "password": PASSWORD}
    r = _discharge(api, s["id"], other)
    assert r.status_code == 401 and "your own username" in r.json()["message"], r.text


def test_two_factor_users_sign_with_their_code(api, signer):
    name, h = signer
    started = api.client.post("/auth/mfa", headers=h).json()
    totp = pyotp.TOTP(started["secret"])
    now = time.time()
    assert (
        api.client.post(
            "/auth/mfa/confirm", json={"code": totp.at(now - 30)}, headers=h
        ).status_code
        == 204
    )
    # each code once, within one 30-second step of the clock: confirm, log in, sign
    login = api.client.post(
        "/auth/token", data={"username": name, "password": PASSWORD, "otp": totp.at(now)}
    )
    h = {"Authorization": f"Bearer {login.json()['access_token']}"}
    _, _, s = _session(api)
    url = f"/sessions/{s['id']}/discharge"
    no_code = {"signature": {"username": name, "password": PASSWORD}}
    assert api.client.post(url, json=no_code, headers={**h, "If-Match": '"1"'}).status_code == 401
    with_code = {"signature": {"username": name, "password": PASSWORD, "otp": totp.at(now + 30)}}
    r = api.client.post(url, json=with_code, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 200, r.text


def test_acknowledging_is_signed(api):
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="ketamine-iv-weekly", weight_kg=70)
    s = api.client.post(
        "/sessions", json=hypertensive_ketamine_body(c["id"]), headers=api.h("clinician")
    ).json()
    alert = next(a for a in s["alerts"] if a["blocks_discharge"])
    url = f"/alerts/{alert['id']}/acknowledge"
    r = api.client.post(url, json={"note": "BP repeated"}, headers=api.h("clinician"))
    assert r.status_code == 422 and r.json()["field"] == "signature"
    r = api.client.post(
        url, json={"note": "BP repeated", "signature": signature(api)}, headers=api.h("clinician")
    )
    assert r.status_code == 200, r.text
    (sig,) = r.json()["signatures"]
    assert sig["meaning_label"] == "review"
    shown = api.client.get(f"/sessions/{s['id']}", headers=api.h("clinician")).json()
    (again,) = [a for a in shown["alerts"] if a["id"] == alert["id"]]
    assert again["signatures"] == [sig]


def test_locking_a_course(api):
    _, c, s = _session(api)
    url = f"/courses/{c['id']}/lock"

    def lock(version, role="clinician", sig=None):
        return api.client.post(
            url,
            json={"signature": sig or signature(api, role)},
            headers=api.h(role, **{"If-Match": f'"{version}"'}),
        )

    assert lock(1).status_code == 409  # still active
    done = api.client.patch(
        f"/courses/{c['id']}",
        json={"status": "completed"},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert done.status_code == 200, done.text
    refused = lock(2)
    assert refused.status_code == 409 and refused.json()["open_sessions"] == [s["id"]]
    assert _discharge(api, s["id"], signature(api)).status_code == 200
    locked = lock(2)
    assert locked.status_code == 200, locked.text
    body = locked.json()
    assert body["locked_at"] and body["locked_by"] == api.world.clinician.user_id
    assert [g["meaning_label"] for g in body["signatures"]] == ["approval"]
    version = body["version"]
    # nothing about the course changes now
    again = api.client.patch(
        f"/courses/{c['id']}",
        json={"status": "active"},
        headers=api.h("clinician", **{"If-Match": f'"{version}"'}),
    )
    assert again.status_code == 409 and "locked" in again.json()["message"]
    # only an admin unlocks, with a reason; the lock signature is withdrawn, not deleted
    unlock = f"/courses/{c['id']}/unlock"
    h = {"If-Match": f'"{version}"'}
    assert (
        api.client.post(unlock, json={"reason": "x"}, headers=api.h("clinician", **h)).status_code
        == 403
    )
    blank = api.client.post(unlock, json={"reason": "  "}, headers=api.h("admin", **h))
    assert blank.status_code == 422 and blank.json()["field"] == "reason"
    ok = api.client.post(
        unlock, json={"reason": "wrong end date entered"}, headers=api.h("admin", **h)
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["locked_at"] is None
    (sig,) = ok.json()["signatures"]
    assert sig["withdrawn_at"] and sig["withdrawn_reason"] == "wrong end date entered"
    reopened = api.client.patch(
        f"/courses/{c['id']}",
        json={"status": "active"},
        headers=api.h("clinician", **{"If-Match": f'"{ok.json()["version"]}"'}),
    )
    assert reopened.status_code == 200, reopened.text


def test_alerts_of_a_locked_course_cannot_be_acknowledged(api):
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="ketamine-iv-weekly", weight_kg=70)
    s = api.client.post(
        "/sessions",
        json=hypertensive_ketamine_body(c["id"], bp_pre=None),
        headers=api.h("clinician"),
    ).json()
    for a in s["alerts"]:
        if a["blocks_discharge"]:
            api.client.post(
                f"/alerts/{a['id']}/acknowledge",
                json={"note": "seen", "signature": signature(api)},
                headers=api.h("clinician"),
            )
    info = [a for a in s["alerts"] if not a["blocks_discharge"]]
    assert info, "a non-blocking alert left open"
    assert _discharge(api, s["id"], signature(api)).status_code == 200
    api.client.patch(
        f"/courses/{c['id']}",
        json={"status": "completed"},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    r = api.client.post(
        f"/courses/{c['id']}/lock",
        json={"signature": signature(api)},
        headers=api.h("clinician", **{"If-Match": '"2"'}),
    )
    assert r.status_code == 200, r.text
    late = api.client.post(
        f"/alerts/{info[0]['id']}/acknowledge",
        json={"note": "late", "signature": signature(api)},
        headers=api.h("clinician"),
    )
    assert late.status_code == 409 and "locked" in late.json()["message"]
    check = api.client.get(
        "/signatures", params={"entity": "course", "entity_id": c["id"]}, headers=api.h("admin")
    ).json()
    assert [x["record_matches"] for x in check["signatures"]] == [True]


def test_researchers_see_no_signer(api):
    _, _, s = _session(api)
    assert _discharge(api, s["id"], signature(api)).status_code == 200
    got = api.client.get(f"/sessions/{s['id']}", headers=api.h("researcher")).json()
    (sig,) = got["signatures"]
    assert sig["printed_name"] is None and sig["username"] is None
    denied = api.client.get(
        "/signatures",
        params={"entity": "session", "entity_id": s["id"]},
        headers=api.h("researcher"),
    )
    assert denied.status_code == 403


def test_the_meanings_are_published_with_their_source(api):
    m = api.client.get("/signatures/meanings").json()
    assert set(m) == {"discharge", "acknowledgement", "lock", "consent"}
    assert {v["meaning"] for v in m.values()} == {"responsibility", "review", "approval"}
