"""Login CSRF and per-address throttling (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
def tight(monkeypatch, database):
    from sqlalchemy import delete

    from raad.store.models import RateEvent

    def clear() -> None:
        with database.transaction() as s:
            s.execute(delete(RateEvent))

    monkeypatch.setattr(throttle, "LIMIT", 3)
    clear()
    yield
    clear()


def test_one_address_is_slowed_down(client, api, tight):
    for _ in range(3):
        r = client.post("/auth/token", data={"username": "nobody.x", "password": "wrong wrong 1"})
        assert r.status_code == 401
    r = client.post("/auth/token", data={"username": "nobody.x", "password": "wrong wrong 1"})
    assert r.status_code == 429 and "too many login attempts" in r.json()["message"]
    page = web_login(_web(client), api.world.usernames["clinician"], PASSWORD)
    assert page.status_code == 429


def test_the_window_slides(tight, database):
    t0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    at = [t0 + timedelta(seconds=s) for s in (0.0, 0.5, 60.1)]
    assert all(throttle.allow(database, "10.0.0.9", now=at[0]) for _ in range(3))
    assert not throttle.allow(database, "10.0.0.9", now=at[1])
    assert throttle.allow(database, "10.0.0.8", now=at[1])  # another address is not affected
    assert throttle.allow(database, "10.0.0.9", now=at[2])  # a minute later there is room again


def test_every_process_counts_together(tight, database):
    """Two workers (two Database objects on one database, as two processes or hosts have)
    share one count: the limit holds across them."""
    from raad.store import Database

    other = Database(database.url)
    try:
        t = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
        assert throttle.allow(database, "10.0.0.7", now=t)
        assert throttle.allow(other, "10.0.0.7", now=t)
        assert throttle.allow(database, "10.0.0.7", now=t)
        assert not throttle.allow(other, "10.0.0.7", now=t)
    finally:
        other.dispose()
