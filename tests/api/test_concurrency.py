"""Optimistic concurrency and idempotency keys, including concurrent retries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.api.helpers import (
    hypertensive_ketamine_body,
    new_course,
    new_patient,
    session_body,
    signature,
)


def _count(api, course_id):
    return api.client.get(
        "/sessions", params={"course_id": course_id}, headers=api.h("clinician")
    ).json()["total"]


def test_a_retried_post_does_not_duplicate_a_session(api):
    p = new_patient(api)
    c = new_course(api, p["id"])
    h = api.h("clinician", **{"Idempotency-Key": f"retry-{c['id']}"})
    first = api.client.post("/sessions", json=session_body(c["id"]), headers=h)
    again = api.client.post("/sessions", json=session_body(c["id"]), headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert _count(api, c["id"]) == 1
    other = api.client.post("/sessions", json=session_body(c["id"], duration_min=30), headers=h)
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"
    assert _count(api, c["id"]) == 1


def test_concurrent_retries_create_one_session(api):
    p = new_patient(api)
    c = new_course(api, p["id"])
    h = api.h("clinician", **{"Idempotency-Key": f"race-{c['id']}"})
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda _: api.client.post("/sessions", json=session_body(c["id"]), headers=h),
                range(8),
            )
        )
    assert {r.status_code for r in results} == {201}, [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert _count(api, c["id"]) == 1


def test_keys_belong_to_their_user(api):
    p = new_patient(api)
    c = new_course(api, p["id"])
    key = {"Idempotency-Key": f"shared-{c['id']}"}
    a = api.client.post("/sessions", json=session_body(c["id"]), headers=api.h("clinician", **key))
    b = api.client.post("/sessions", json=session_body(c["id"]), headers=api.h("admin", **key))
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_concurrent_updates_one_wins_the_other_gets_412(api):
    p = new_patient(api)
    url = f"/patients/{p['id']}"

    def change(sex):
        return api.client.patch(
            url, json={"sex": sex}, headers=api.h("clinician", **{"If-Match": '"1"'})
        )

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(change, ["male", "other"] * 3))
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [412] * 5, [r.text for r in results]
    assert api.client.get(url, headers=api.h("clinician")).json()["version"] == 2


def test_concurrent_writers_all_land(api):
    p = new_patient(api)
    c = new_course(api, p["id"])

    def write(i):
        return api.client.post(
            "/sessions",
            json=session_body(c["id"], start=f"2026-02-{i + 1:02d}T10:00:00+00:00"),
            headers=api.h("clinician"),
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(write, range(16)))
    assert [r.status_code for r in results] == [201] * 16
    assert _count(api, c["id"]) == 16


def test_concurrent_acknowledgements_one_wins_no_note_lost(api):
    """Issue 17: on PostgreSQL two acknowledgements both succeeded and the first note was lost."""
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="ketamine-iv-weekly", weight_kg=70)
    body = hypertensive_ketamine_body(c["id"])
    s = api.client.post("/sessions", json=body, headers=api.h("clinician")).json()
    alert = next(a for a in s["alerts"] if a["blocks_discharge"])
    url = f"/alerts/{alert['id']}/acknowledge"
    with ThreadPoolExecutor(6) as pool:
        results = list(
            pool.map(
                lambda n: api.client.post(
                    url,
                    json={"note": f"note {n}", "signature": signature(api)},
                    headers=api.h("clinician"),
                ),
                range(6),
            )
        )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409, 409, 409, 409], [r.text for r in results]
    winner = next(r.json() for r in results if r.status_code == 200)
    stored = api.client.get(f"/alerts?patient_id={p['id']}", headers=api.h("clinician")).json()
    (row,) = [a for a in stored["items"] if a["id"] == alert["id"]]
    assert row["acknowledgement_note"] == winner["acknowledgement_note"]


def test_concurrent_wrong_passwords_all_count(api, database):
    """Issue 17: on PostgreSQL 6-11 guesses got through instead of 5."""
    from raad.services import auth as auth_service
    from raad.services.auth import MAX_FAILED_LOGINS
    from tests.dbfixtures import PASSWORD

    name = f"race.{p_suffix()}"
    with database.transaction() as s:
        auth_service.create_user(s, name, PASSWORD, "clinician", api.world.site)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda _: api.client.post(
                    "/auth/token", data={"username": name, "password": "not-the-password-1"}
                ),
                range(MAX_FAILED_LOGINS + 3),
            )
        )
    right = api.client.post("/auth/token", data={"username": name, "password": PASSWORD})
    assert right.status_code == 401 and "locked" in right.text


def p_suffix() -> str:
    import secrets

    return secrets.token_hex(4)


def test_wrong_password_confirmations_beside_reads_do_not_deadlock(api, database, monkeypatch):
    """Issue 17 (schemathesis on PostgreSQL): a wrong current password (counted toward the
    lock-out: the user row locked, then an audit row) beside audited reads of the same user (an
    audit row naming the user by its foreign key) deadlocked and answered 500. Lock-out is
    turned off here so that every request runs to the end."""
    import secrets

    from raad.services import auth
    from tests.dbfixtures import PASSWORD

    monkeypatch.setattr(auth, "MAX_FAILED_LOGINS", 10**6)
    name = f"race.{secrets.token_hex(3)}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "researcher")
    token = api.client.post("/auth/token", data={"username": name, "password": PASSWORD})
    h = {"Authorization": f"Bearer {token.json()['access_token']}"}
    wrong = {"current_password": "not the password at all", "new_password": "Another-long-pass-42"}

    def one(n: int) -> int:
        if n % 2:
            return api.client.post("/auth/password", json=wrong, headers=h).status_code
        return api.client.get("/patients", params={"limit": 1}, headers=h).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(120)))
    assert set(codes) <= {200, 401}, sorted(set(codes))
    assert codes.count(200) == 60 and codes.count(401) == 60


def test_concurrent_retries_of_a_registration_replay_not_refuse(api):
    """On PostgreSQL the twin's patient (same record number) failed this request's own check
    before its key was seen: 409 instead of the first response. Now the first is replayed."""
    import secrets

    body = {
        "identity": {
            "given_name": "Twin",
            "family_name": "Retry",
            "mrn": f"TW-{secrets.token_hex(3)}",
        },
    }
    h = api.h("clinician", **{"Idempotency-Key": f"twin-{secrets.token_hex(4)}"})
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda _: api.client.post("/patients", json=body, headers=h), range(4))
        )
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1


def test_one_record_number_per_site_even_when_registered_at_once(api):
    """Issue 18: the same record number was accepted twice at a site. The service refuses it,
    and a unique index holds against two registrations at the same moment (409, never 500)."""
    import secrets

    mrn = f"ONE-{secrets.token_hex(3)}"

    def register(n: int):
        body = {"identity": {"given_name": f"N{n}", "family_name": "Same", "mrn": mrn}}
        return api.client.post("/patients", json=body, headers=api.h("clinician"))

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(r.status_code for r in pool.map(register, range(6)))
    assert codes == [201, 409, 409, 409, 409, 409], codes
    # changing another patient's record number to this one is refused too
    other = register(99)
    assert other.status_code == 409
    p = api.client.post(
        "/patients",
        json={"identity": {"given_name": "X", "family_name": "Other", "mrn": mrn + "-b"}},
        headers=api.h("clinician"),
    ).json()
    r = api.client.patch(
        f"/patients/{p['id']}",
        json={"identity": {"given_name": "X", "family_name": "Other", "mrn": mrn}},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert r.status_code == 409 and "already registered" in r.json()["message"], r.text
    # the same number at another site is another patient
    elsewhere = api.client.post(
        "/patients",
        json={"identity": {"given_name": "Y", "family_name": "Else", "mrn": mrn}},
        headers=api.h("other_clinician"),
    )
    assert elsewhere.status_code == 201
