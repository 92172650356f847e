"""Accounts (issue 17): list, disable, enable, unlock, new password, new role - in the API and
the command line; names compared without case and ASCII only; the same answer for an unknown,
a wrongly guessed and a locked account; a user's own password change."""

from __future__ import annotations

import secrets

import pytest
from typer.testing import CliRunner

from raad.cli import app as cli
from raad.services import auth
from raad.services.auth import MAX_FAILED_LOGINS
from tests.dbfixtures import PASSWORD

NEW_PASSWORD = "violet lantern orbit canyon"


@pytest.fixture
def account(api, database):
    name = f"acct.{secrets.token_hex(4)}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "clinician", api.world.site)
    return name


def _token(api, name, password=PASSWORD):
    return api.client.post("/auth/token", data={"username": name, "password": password})


def _bearer(r):
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_admins_list_and_change_accounts(api, account):
    assert api.client.get("/users", headers=api.h("clinician")).status_code == 403
    users = api.client.get("/users", headers=api.h("admin")).json()
    assert any(u["username"] == account and u["active"] for u in users)
    mine = _bearer(_token(api, account))
    assert api.client.get("/auth/me", headers=mine).status_code == 200
    r = api.client.patch(f"/users/{account}", json={"active": False}, headers=api.h("admin"))
    assert r.status_code == 200 and r.json()["active"] is False
    assert api.client.get("/auth/me", headers=mine).status_code == 401  # its session ended
    assert _token(api, account).status_code == 401
    api.client.patch(f"/users/{account}", json={"active": True}, headers=api.h("admin"))
    assert _token(api, account).status_code == 200
    r = api.client.patch(f"/users/{account}", json={"role": "researcher"}, headers=api.h("admin"))
    assert r.json()["role"] == "researcher"
    again = api.client.patch(f"/users/{account}", json={"role": "wizard"}, headers=api.h("admin"))
    assert again.status_code == 422 and again.json()["field"] == "role"


def test_unlock_and_new_password(api, account):
    for _ in range(MAX_FAILED_LOGINS):
        _token(api, account, "not the password at all")
    assert _token(api, account).status_code == 401  # locked
    api.client.patch(f"/users/{account}", json={"unlock": True}, headers=api.h("admin"))
    first = _bearer(_token(api, account))
    weak = api.client.patch(
        f"/users/{account}", json={"password": "aaaaaaaaaaaaaaa"}, headers=api.h("admin")
    )
    assert weak.status_code == 422 and weak.json()["field"] == "password"
    r = api.client.patch(
        f"/users/{account}", json={"password": NEW_PASSWORD}, headers=api.h("admin")
    )
    assert r.status_code == 200
    assert api.client.get("/auth/me", headers=first).status_code == 401  # sessions ended
    assert _token(api, account, NEW_PASSWORD).status_code == 200


def test_an_admin_cannot_lock_themself_out(api):
    me = api.world.usernames["admin"]
    r = api.client.patch(f"/users/{me}", json={"active": False}, headers=api.h("admin"))
    assert r.status_code == 409


def test_own_password_change(api, account):
    h = _bearer(_token(api, account))
    wrong = api.client.post(
        "/auth/password", json={"current_password": "nope", "new_password": NEW_PASSWORD}, headers=h
    )
    assert wrong.status_code == 401
    weak = api.client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "password1234"},
        headers=h,
    )
    assert weak.status_code == 422
    ok = api.client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=h,
    )
    assert ok.status_code == 204
    assert (
        _token(api, account).status_code == 401
        and _token(api, account, NEW_PASSWORD).status_code == 200
    )


def test_names_are_compared_without_case_and_look_alikes_refused(api, account):
    assert _token(api, account.upper()).status_code == 200
    body = {"username": account.upper(), "password": PASSWORD, "role": "researcher"}
    assert api.client.post("/users", json=body, headers=api.h("admin")).status_code == 409
    cyrillic = {
        "username": "\u0430dmin." + secrets.token_hex(2),
        "password": PASSWORD,
        "role": "researcher",
    }
    r = api.client.post("/users", json=cyrillic, headers=api.h("admin"))
    assert r.status_code == 422 and r.json()["field"] == "username"


@pytest.mark.parametrize(
    ("existing", "look_alike"),
    # Unicode confusables.txt (UTS #39) prototypes among ASCII: 1 -> l, 0 -> O, m -> rn
    [("admin.{t}", "adrnin.{t}"), ("nurse1.{t}", "nursel.{t}"), ("bob0.{t}", "bobo.{t}")],
)
def test_names_that_look_like_another_are_refused(api, database, existing, look_alike):
    tag = secrets.token_hex(3)
    first = {"username": existing.format(t=tag), "password": PASSWORD, "role": "researcher"}
    assert api.client.post("/users", json=first, headers=api.h("admin")).status_code == 201
    second = first | {"username": look_alike.format(t=tag).upper()}
    r = api.client.post("/users", json=second, headers=api.h("admin"))
    assert r.status_code == 409 and "would look like" in r.json()["message"], r.text
    assert first["username"] in r.json()["message"]


def test_unknown_wrong_and_locked_answer_alike(api, account):
    unknown = _token(api, f"nobody.{secrets.token_hex(4)}", "whatever it is 1")
    wrong = _token(api, account, "not the password at all")
    for _ in range(MAX_FAILED_LOGINS):
        _token(api, account, "not the password at all")
    locked = _token(api, account)
    assert unknown.status_code == wrong.status_code == locked.status_code == 401
    assert unknown.json() == wrong.json() == locked.json()


def test_user_commands(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner()
    add = run.invoke(
        cli,
        ["user", "add", "nurse.cli", "--role", "clinician", "--site", "S1", "--url", url],
        input=PASSWORD + "\n",
    )
    assert add.exit_code == 0, add.output
    weak = run.invoke(
        cli,
        ["user", "add", "nurse.weak", "--role", "researcher", "--url", url],
        input="password1234\n",
    )
    assert weak.exit_code == 2 and "password" in weak.output
    for args in (["disable"], ["enable"], ["unlock"]):
        r = run.invoke(cli, ["user", *args, "nurse.cli", "--url", url])
        assert r.exit_code == 0, r.output
    r = run.invoke(
        cli, ["user", "set-password", "NURSE.CLI", "--url", url], input=NEW_PASSWORD + "\n"
    )
    assert r.exit_code == 0, r.output
    r = run.invoke(cli, ["user", "set-role", "nurse.cli", "researcher", "--url", url])
    assert r.exit_code == 0 and "researcher" in r.output
    listing = run.invoke(cli, ["user", "list", "--url", url], terminal_width=200)
    assert "nurse.cli" in listing.output and "researcher" in listing.output
    missing = run.invoke(cli, ["user", "disable", "ghost", "--url", url])
    assert missing.exit_code == 2 and "not found" in missing.output


def test_guessing_the_current_password_locks_the_account(api, account):
    from raad.services.auth import MAX_FAILED_LOGINS

    h = _bearer(_token(api, account))
    for _ in range(MAX_FAILED_LOGINS):
        r = api.client.post(
            "/auth/password",
            json={"current_password": "a wrong guess 123", "new_password": NEW_PASSWORD},
            headers=h,
        )
        assert r.status_code == 401
    assert _token(api, account).status_code == 401  # locked now


def test_a_look_alike_that_lower_cases_to_ascii_is_refused(api, database):
    with database.transaction() as s:
        auth.create_user(s, f"kelvin.{api.world.site.lower()}", PASSWORD, "researcher")
    body = {
        "username": f"\u212aelvin.x{secrets.token_hex(2)}",
        "password": PASSWORD,
        "role": "researcher",
    }
    assert api.client.post("/users", json=body, headers=api.h("admin")).status_code == 422
    assert _token(api, f"\u212aelvin.{api.world.site.lower()}").status_code == 401


def test_an_idempotent_replay_is_checked_again_after_a_role_change(api, account):
    h = _bearer(_token(api, account)) | {"Idempotency-Key": "replay-1"}
    body = {
        "identity": {"given_name": "I", "family_name": "Dem", "mrn": f"ID-{secrets.token_hex(3)}"}
    }
    assert api.client.post("/patients", json=body, headers=h).status_code == 201
    api.client.patch(f"/users/{account}", json={"role": "researcher"}, headers=api.h("admin"))
    h2 = _bearer(_token(api, account)) | {"Idempotency-Key": "replay-1"}
    r = api.client.post("/patients", json=body, headers=h2)
    assert r.status_code in (403, 422) and "identity" not in r.text


def test_a_session_unused_past_the_idle_timeout_ends(api, account, database):
    from datetime import timedelta

    from sqlalchemy import update

    from raad.store.models import AuthToken, utcnow

    r = _token(api, account)
    h = _bearer(r)
    assert api.client.get("/auth/me", headers=h).status_code == 200
    token = r.json()["access_token"]
    stale = utcnow() - auth.IDLE_TIMEOUT - timedelta(minutes=1)
    with database.transaction() as s:
        s.execute(
            update(AuthToken)
            .where(AuthToken.token_hash == auth._digest(token))
            .values(last_seen_at=stale, created_at=stale)
        )
    ended = api.client.get("/auth/me", headers=h)
    assert ended.status_code == 401 and "without use" in ended.json()["message"]


def test_use_keeps_a_session_alive(api, account, database):
    from datetime import timedelta

    from sqlalchemy import select, update

    from raad.store.models import AuthToken, utcnow

    r = _token(api, account)
    h = _bearer(r)
    digest = auth._digest(r.json()["access_token"])
    almost = utcnow() - auth.IDLE_TIMEOUT + timedelta(minutes=1)
    with database.transaction() as s:
        s.execute(
            update(AuthToken).where(AuthToken.token_hash == digest).values(last_seen_at=almost)
        )
    assert api.client.get("/patients?limit=1", headers=h).status_code == 200  # touches it
    with database.transaction(write=False) as s:
        seen = s.scalar(select(AuthToken.last_seen_at).where(AuthToken.token_hash == digest))
    assert seen > almost + timedelta(minutes=5)


@pytest.mark.parametrize("site", [":÷Ìz%~", "a b", "x" * 33, "\u0430site"])
def test_a_new_site_needs_a_plain_code(api, site):
    """Schemathesis: any string became a new site (and users were moved onto it)."""
    body = {
        "username": f"site.{secrets.token_hex(3)}",
        "password": PASSWORD,
        "role": "clinician",
        "site": site,
    }
    r = api.client.post("/users", json=body, headers=api.h("admin"))
    assert r.status_code == 422 and r.json()["field"] == "site", r.text
    r = api.client.patch(
        f"/users/{api.world.usernames['other_clinician']}",
        json={"site": site},
        headers=api.h("admin"),
    )
    assert r.status_code == 422 and r.json()["field"] == "site", r.text


def test_an_admin_cannot_make_a_new_site_by_a_typo(api):
    body = {
        "username": f"typo.{secrets.token_hex(3)}",
        "password": PASSWORD,
        "role": "clinician",
        "site": f"NEWSITE{secrets.token_hex(2)}",
    }
    r = api.client.post("/users", json=body, headers=api.h("admin"))
    assert r.status_code == 422 and r.json()["field"] == "site"
    assert api.world.site in r.json()["allowed"]  # the existing codes are named
