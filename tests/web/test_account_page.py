"""A user's own account page (issue 17: "password change by the user", two-factor for all
roles): the password changed with the current one first (a wrong one counts toward the
lock-out, every session ends on success), and two-factor turned on with a QR code and a code
from the app (checked with pyotp's own generator)."""

from __future__ import annotations

import base64
import re
import secrets
import time
import urllib.parse

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from raad.services import auth
from raad.store.models import User
from tests.api.helpers import web_login
from tests.dbfixtures import PASSWORD

NEW = "a brand new passphrase for the clinic"


@pytest.fixture
def member(api, database):
    name = f"acct.{secrets.token_hex(3)}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "clinician", api.world.site, full_name="Nurse Acct")
    web = TestClient(api.client.app, raise_server_exceptions=False)
    assert web_login(web, name, PASSWORD).status_code == 303
    web.headers["X-CSRF-Token"] = web.cookies.get("raad_csrf")
    return name, web


def test_the_page_shows_who_signs(member):
    name, web = member
    page = web.get("/ui/account")
    assert page.status_code == 200
    assert name in page.text and "signs as <strong>Nurse Acct</strong>" in page.text


def test_changing_the_password(api, member, database):
    name, web = member
    mismatch = web.post(
        "/ui/account/password",
        data={"current_password": PASSWORD, "new_password": NEW, "new_password_again": NEW + "x"},
    )
    assert "new_password_again" in mismatch.text
    wrong = web.post(
        "/ui/account/password",
        data={"current_password": "not it at all!", "new_password": NEW, "new_password_again": NEW},
    )
    assert "current password is wrong" in wrong.text
    with database.transaction(write=False) as s:
        assert s.scalar(select(User.failed_logins).where(User.username == name)) == 1
    weak = web.post(
        "/ui/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "password1234",
            "new_password_again": "password1234",
        },
    )
    assert "new_password" in weak.text or "password" in weak.text
    ok = web.post(
        "/ui/account/password",
        data={"current_password": PASSWORD, "new_password": NEW, "new_password_again": NEW},
    )
    assert ok.status_code == 204 and ok.headers["hx-redirect"] == "/ui/login?changed=1"
    # this session ended too; the new password logs in
    assert web.get("/ui/account", follow_redirects=False).status_code in (303, 307)
    login = api.client.post("/auth/token", data={"username": name, "password": NEW})
    assert login.status_code == 200


def test_turning_on_two_factor(api, member):
    name, web = member
    page = web.post("/ui/account/mfa")
    assert page.status_code == 200
    secret = re.search(r"<code>([A-Z2-7]+)</code>", page.text).group(1)
    # the QR code is an SVG carrying the otpauth URI with the same key
    src = re.search(r'src="(data:image/svg\+xml[^"]+)"', page.text).group(1)
    assert src.startswith("data:image/svg+xml")
    svg = (
        urllib.parse.unquote(src.split(",", 1)[1])
        if ";base64" not in src
        else base64.b64decode(src.split(",", 1)[1]).decode()
    )
    assert "<svg" in svg
    totp = pyotp.TOTP(secret)
    now = time.time()
    bad = web.post("/ui/account/mfa/confirm", data={"code": "000000"})
    assert "code" in bad.text
    ok = web.post("/ui/account/mfa/confirm", data={"code": totp.at(now)})
    assert ok.status_code == 204
    assert "On: you log in" in web.get("/ui/account").text
    assert (
        api.client.post("/auth/token", data={"username": name, "password": PASSWORD}).status_code
        == 401
    )
    with_code = {"username": name, "password": PASSWORD, "otp": totp.at(now + 30)}
    assert api.client.post("/auth/token", data=with_code).status_code == 200
