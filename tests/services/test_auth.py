"""Passwords, tokens, lock-out and the demo seed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from raad.cli import app
from raad.services import Unauthorized, auth, demo
from raad.services.errors import Conflict, InvalidInput
from raad.store.models import AuthToken, User, utcnow
from tests.dbfixtures import PASSWORD


def test_passwords_are_argon2_hashes(database, world):
    with database.transaction(write=False) as s:
        u = s.scalar(select(User).where(User.username == world.usernames["clinician"]))
        assert u.password_hash.startswith("$argon2id$") and PASSWORD not in u.password_hash


def test_user_rules(database, world):
    with database.transaction() as s:
        with pytest.raises(InvalidInput, match="role"):
            auth.create_user(s, "x1", PASSWORD, "nurse")
        with pytest.raises(InvalidInput, match="site"):
            auth.create_user(s, "x2", PASSWORD, "clinician")
        with pytest.raises(InvalidInput, match="password"):
            auth.create_user(s, "x3", "short", "researcher")
        with pytest.raises(Conflict):
            auth.create_user(s, world.usernames["admin"], PASSWORD, "admin")


def test_tokens_are_stored_hashed_and_expire(database, world):
    with database.transaction() as s:
        u = s.scalar(select(User).where(User.username == world.usernames["researcher"]))
        issued = auth.issue_token(s, u)
    with database.transaction() as s:
        row = s.scalar(select(AuthToken).order_by(AuthToken.id.desc()).limit(1))
        assert issued.token not in (row.token_hash or "")
        assert auth.resolve_token(s, issued.token, "bearer").username == u.username
        with pytest.raises(Unauthorized):
            auth.resolve_token(s, issued.token, "cookie")  # a bearer token is not a session cookie
        row.expires_at = utcnow() - timedelta(seconds=1)
    with database.transaction(write=False) as s, pytest.raises(Unauthorized):
        auth.resolve_token(s, issued.token, "bearer")


def test_lock_expires(database, world):
    name = f"relock{world.site}"
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "researcher")
    now = utcnow()
    for _ in range(auth.MAX_FAILED_LOGINS):
        with database.transaction() as s, pytest.raises(Unauthorized):
            auth.authenticate(s, name, "wrong", now=now)
    with database.transaction() as s, pytest.raises(Unauthorized, match="locked"):
        auth.authenticate(s, name, PASSWORD, now=now)
    with database.transaction() as s:
        assert auth.authenticate(s, name, PASSWORD, now=now + auth.LOCKOUT + timedelta(seconds=1))


def test_login_verifies_the_password_outside_the_write_lock(database, world, monkeypatch):
    seen: list[object] = []
    real = auth._verify

    def spy(stored, password):
        seen.append(database._writer_thread)  # who holds SQLite's writer gate right now
        return real(stored, password)

    monkeypatch.setattr(auth, "_verify", spy)
    issued = auth.login(database, world.usernames["clinician"], PASSWORD, "bearer")
    assert issued.token and seen == [None]  # verified once, with no writer holding the gate
    with pytest.raises(Unauthorized):
        auth.login(database, world.usernames["clinician"], "wrong password", "bearer")
    assert seen == [None, None]


def test_a_password_changed_after_the_check_is_verified_again(database, world):
    name = f"rechk{world.site}".lower()  # stored lower case
    with database.transaction() as s:
        auth.create_user(s, name, PASSWORD, "researcher")
    with database.core_transaction(write=False) as c:
        checked = auth.check_password(c, name, PASSWORD)
    assert checked.ok
    with database.transaction() as s:  # the password changes between the check and the write
        u = s.scalar(select(User).where(User.username == name))
        u.password_hash = auth.hash_password("another password 123")
    with database.transaction() as s, pytest.raises(Unauthorized):
        auth.authenticate(s, name, PASSWORD, checked=checked)  # the old check is not trusted
    with database.transaction() as s:
        assert auth.authenticate(s, name, "another password 123", checked=checked)


def test_demo_seed_is_synthetic_and_runs_once(tmp_path):
    from raad.store import Database
    from raad.store.migrate import upgrade

    db = Database(f"sqlite:///{tmp_path / 'demo.db'}")
    upgrade(db)
    with db.transaction() as s:
        first = demo.seed(s)
    with db.transaction() as s:
        assert demo.seed(s) == {}
        names = [u.username for u in s.scalars(select(User))]
    assert set(first) == {"demo.admin", "demo.clinician", "demo.researcher"} == set(names)
    assert len(set(first.values())) == 3 and all(len(p) >= 12 for p in first.values())
    from raad.store.models import PatientIdentity

    with db.transaction(write=False) as s:
        ids = list(s.scalars(select(PatientIdentity)))
    assert ids and all(i.mrn.startswith("DEMO-") and "Synthetic" in i.family_name for i in ids)
    db.dispose()


def test_cli_db_upgrade_and_user_add(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    r = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert r.exit_code == 0 and "revision 0018" in r.output  # the newest migration
    r = runner.invoke(
        app,
        ["user", "add", "carol", "--role", "clinician", "--site", "EAST", "--url", url],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["user", "add", "dave", "--role", "clinician", "--url", url], input=PASSWORD + "\n"
    )
    assert r.exit_code == 2 and "site" in r.output
    r = runner.invoke(
        app, ["user", "add", "erin", "--role", "researcher", "--url", url], input="short\n"
    )
    assert r.exit_code == 2 and "password" in r.output
