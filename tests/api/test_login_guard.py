"""Login CSRF and per-address throttling (issue 17)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from raad.api import throttle
from tests.api.helpers import web_login
from tests.dbfixtures import PASSWORD


def _web(client) -> TestClient:
    return TestClient(client.app, raise_server_exceptions=False)


def test_a_login_form_from_elsewhere_is_refused(client, api):
    name = api.world.usernames["clinician"]
    forged = _web(client).post(
        "/ui/login", data={"username": name, "password": PASSWORD}, follow_redirects=False
    )
    assert forged.status_code == 403 and "raad_session" not in forged.cookies
    other = _web(client)
    other.get("/ui/login")  # a token of its own in its cookie
    wrong = other.post(
        "/ui/login",
        data={"username": name, "password": PASSWORD, "login_csrf": "guessed"},
        follow_redirects=False,
    )
    assert wrong.status_code == 403
    ok = web_login(_web(client), name, PASSWORD)
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/patients"


@pytest.fixture
def tight(monkeypatch):
    monkeypatch.setattr(throttle, "LIMIT", 3)
    throttle.reset()
    yield
    throttle.reset()


def test_one_address_is_slowed_down(client, api, tight):
    for _ in range(3):
        r = client.post("/auth/token", data={"username": "nobody.x", "password": "wrong wrong 1"})
        assert r.status_code == 401
    r = client.post("/auth/token", data={"username": "nobody.x", "password": "wrong wrong 1"})
    assert r.status_code == 429 and "too many login attempts" in r.json()["message"]
    page = web_login(_web(client), api.world.usernames["clinician"], PASSWORD)
    assert page.status_code == 429


def test_the_window_slides(tight):
    assert all(throttle.allow("10.0.0.9", now=100.0) for _ in range(3))
    assert not throttle.allow("10.0.0.9", now=100.5)
    assert throttle.allow("10.0.0.8", now=100.5)  # another address is not affected
    assert throttle.allow("10.0.0.9", now=160.1)  # a minute later there is room again
