"""Behind a reverse proxy (issue 23): ``raad serve --forwarded-allow-ips`` believes the proxy's
X-Forwarded-For, so the audit trail and the rate limits see the client's address, not the
proxy's; a client that is not a listed proxy cannot claim another address."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from raad.services import auth
from raad.store import Database
from raad.store.migrate import upgrade
from raad.store.models import AuditEvent, RateEvent
from tests.dbfixtures import PASSWORD
from tests.serving import start_server


@pytest.mark.parametrize(
    ("allowed", "seen"), [("127.0.0.1", "203.0.113.9"), ("10.9.9.9", "127.0.0.1")]
)
def test_the_forwarded_client_address_is_kept_only_from_a_listed_proxy(tmp_path, allowed, seen):
    url = f"sqlite:///{tmp_path / 'proxy.db'}"
    db = Database(url)
    upgrade(db)
    with db.transaction() as s:
        auth.create_user(s, "proxied.user", PASSWORD, "admin", None)
    args = (
        "-m",
        "raad",
        "serve",
        "--port",
        "{port}",
        "--no-jobs",
        "--forwarded-allow-ips",
        allowed,
    )
    proc, base = start_server(url, args)
    try:
        r = httpx.post(
            f"{base}/auth/token",
            data={"username": "proxied.user", "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        )
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    with db.transaction(write=False) as s:
        login = s.scalars(select(AuditEvent).where(AuditEvent.action == "login")).all()
        counted = s.scalars(select(RateEvent.client).where(RateEvent.kind == "login")).all()
    db.dispose()
    assert [e.client for e in login] == [seen]
    assert counted == [seen]
