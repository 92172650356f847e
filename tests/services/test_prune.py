"""Retention (issue 17: idempotency records kept identities forever): stored first responses
expire after their time to live, expired tokens are pruned, the audit trail never is."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from typer.testing import CliRunner

from raad.cli import app as cli
from raad.services import auth, idempotency
from raad.services.maintenance import prune
from raad.store.migrate import upgrade
from raad.store.models import AuditEvent, AuthToken, IdempotentRequest, RateEvent, utcnow
from tests.dbfixtures import PASSWORD


def test_prune_and_expiry(empty_database):
    db = empty_database
    upgrade(db)
    with db.transaction() as s:
        user = auth.create_user(s, "prune.admin", PASSWORD, "admin")
        auth.issue_token(s, user)
        old = auth.issue_token(s, user)
        actor = auth.actor_of(user)
        idempotency.run(s, actor, "k1", "/x", {"a": 1}, lambda: {"id": 1, "name": "someone"})
        for seconds in (120, 5):  # a login counted two minutes ago goes, a recent one stays
            s.add(
                RateEvent(kind="login", client="10.1.1.1", at=utcnow() - timedelta(seconds=seconds))
            )
    with db.transaction() as s:
        s.execute(
            update(IdempotentRequest).values(
                created_at=utcnow() - idempotency.TTL - timedelta(minutes=1)
            )
        )
        s.execute(
            update(AuthToken)
            .where(AuthToken.token_hash == auth._digest(old.token))
            .values(expires_at=utcnow() - timedelta(days=2))
        )
    with db.transaction() as s:  # an expired key is a new key: the action runs again
        _, body, replayed = idempotency.run(s, actor, "k1", "/x", {"b": 2}, lambda: {"id": 2})
    assert (body, replayed) == ({"id": 2}, False)
    with db.transaction() as s:
        s.execute(
            update(IdempotentRequest).values(
                created_at=utcnow() - idempotency.TTL - timedelta(minutes=1)
            )
        )
        audit_rows = s.scalar(select(func.count()).select_from(AuditEvent))
        gone = prune(s)
    assert gone == {
        "idempotency_records": 1,
        "tokens": 1,
        "ehr_launch_records": 0,
        "rate_events": 1,
        "bulk_exports": 0,
    }
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(AuthToken)) == 1  # the live one stays
        assert s.scalar(select(func.count()).select_from(RateEvent)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == audit_rows + 1


def test_cli_prune(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    run = CliRunner()
    assert run.invoke(cli, ["db", "upgrade", "--url", url]).exit_code == 0
    r = run.invoke(cli, ["db", "prune", "--url", url])
    assert r.exit_code == 0 and "pruned 0 idempotency record(s) and 0 token(s)" in r.output
