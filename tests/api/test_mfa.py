"""Two-factor authentication (issue 17): enrolment and login with TOTP codes (RFC 6238, checked
against pyotp's own generator), a code never accepted twice, admins refused without it when it
is required, and the operator's enrol/reset commands."""

from __future__ import annotations

import secrets
import time

import pyotp
import pytest
from typer.testing import CliRunner

from raad.cli import app as cli
from raad.services import auth, mfa
from tests.dbfixtures import PASSWORD


@pytest.fixture
def member(api, database):
    name = f"mfa.{secrets.token_hex(4)}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "clinician", api.world.site)
    r = api.client.post("/auth/token", data={"username": name, "password": PASSWORD})
    return name, {"Authorization": f"Bearer {r.json()['access_token']}"}


def _login(api, name, otp=None):
    data = {"username": name, "password": PASSWORD} | ({"otp": otp} if otp else {})
    return api.client.post("/auth/token", data=data)


def test_enrol_then_log_in_with_a_code(api, member):
    name, h = member
    started = api.client.post("/auth/mfa", headers=h).json()
    assert started["uri"].startswith("otpauth://totp/raad:") and name in started["uri"]
    totp = pyotp.TOTP(started["secret"])
    bad = api.client.post("/auth/mfa/confirm", json={"code": "000000"}, headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "code"
    now = time.time()
    ok = api.client.post("/auth/mfa/confirm", json={"code": totp.at(now)}, headers=h)
    assert ok.status_code == 204
    assert _login(api, name).status_code == 401  # the password alone is not enough now
    assert _login(api, name, "123456").status_code == 401
    # the code used to confirm cannot be used again; the next step's code can
    assert _login(api, name, totp.at(now)).status_code == 401
    assert _login(api, name, totp.at(now + 30)).status_code == 200
    assert _login(api, name, totp.at(now + 30)).status_code == 401  # replayed


def test_codes_follow_rfc_6238_with_one_step_of_drift():
    user = auth.User(username="x", totp_secret=pyotp.random_base32(), totp_last_step=None)
    t = 1_800_000_000.0
    code = pyotp.TOTP(user.totp_secret).at(t)
    assert not mfa.accept(user, code, now=t + 61)  # two steps late
    assert mfa.accept(user, code[:3] + " " + code[3:], now=t + 29)  # spaces as typed
    assert not mfa.accept(user, code, now=t)  # the same step again
    assert not mfa.accept(user, "12345", now=t) and not mfa.accept(user, None, now=t)


def test_admins_need_it_when_required(api, database, monkeypatch):
    name = f"adm.{secrets.token_hex(4)}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "admin")
    monkeypatch.setattr(mfa, "REQUIRE_FOR_ADMINS", True)
    r = _login(api, name)
    assert r.status_code == 401 and "raad user mfa-enrol" in r.json()["message"]
    with database.transaction() as s:
        key = auth.mfa_admin(s, None, name, enrol=True)["secret"]
    assert _login(api, name, pyotp.TOTP(key).now()).status_code == 200


def test_operator_commands(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    run = CliRunner()
    run.invoke(
        cli, ["user", "add", "op.admin", "--role", "admin", "--url", url], input=PASSWORD + "\n"
    )
    r = run.invoke(cli, ["user", "mfa-enrol", "op.admin", "--url", url])
    assert r.exit_code == 0 and "otpauth://totp/raad:op.admin" in r.output
    r = run.invoke(cli, ["user", "mfa-reset", "OP.ADMIN", "--url", url])
    assert r.exit_code == 0 and "off" in r.output
    r = run.invoke(cli, ["user", "mfa-enrol", "ghost", "--url", url])
    assert r.exit_code == 2 and "not found" in r.output


def test_a_session_cannot_replace_an_enrolled_second_factor(api, member):
    name, h = member
    started = api.client.post("/auth/mfa", headers=h).json()
    code = pyotp.TOTP(started["secret"]).now()
    assert api.client.post("/auth/mfa/confirm", json={"code": code}, headers=h).status_code == 204
    again = api.client.post("/auth/mfa", headers=h)
    assert again.status_code == 409 and "mfa-reset" in again.json()["message"]
    assert _login(api, name).status_code == 401  # still needs the code
