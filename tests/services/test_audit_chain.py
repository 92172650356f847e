"""The audit trail's hash chain (issue 17): ``verify`` finds a changed row and a removed row, on
SQLite and PostgreSQL; concurrent writers keep one chain; the caller's address is recorded."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select, text
from typer.testing import CliRunner

from raad.cli import app as cli
from raad.services import audit, auth
from raad.store.migrate import upgrade
from raad.store.models import AuditEvent
from tests.dbfixtures import PASSWORD


def _tamper(db, statement: str) -> None:
    """Change the table behind the append-only triggers, as someone with the database file or
    superuser rights could."""
    with db.engine.begin() as c:
        if db.dialect == "sqlite":
            c.execute(text("DROP TRIGGER audit_events_no_update"))
            c.execute(text("DROP TRIGGER audit_events_no_delete"))
            c.execute(text(statement))
        else:
            c.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            c.execute(text(statement))
            c.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))


def _fill(db, n: int = 6) -> list[int]:
    with db.transaction() as s:
        if not s.execute(text("SELECT 1 FROM users WHERE username = 'chain.admin'")).first():
            auth.create_user(s, "chain.admin", PASSWORD, "admin")
    actor = auth.Actor(1, "chain.admin", "admin", None)
    for i in range(n):
        with db.transaction() as s:
            audit.record(
                s, actor, "update", "thing", i, detail=f"change {i}", after={"n": i, "x": 1.5}
            )
    with db.transaction(write=False) as s:
        return list(s.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def test_a_whole_chain_verifies(empty_database):
    db = empty_database
    upgrade(db)
    ids = _fill(db)
    with db.transaction(write=False) as s:
        check = audit.verify(s)
    assert check.ok and check.rows == len(ids) and check.unchained == 0 and check.head


def test_a_changed_row_is_found(empty_database):
    db = empty_database
    upgrade(db)
    ids = _fill(db)
    _tamper(db, f"UPDATE audit_events SET detail = 'nothing happened' WHERE id = {ids[3]}")
    with db.transaction(write=False) as s:
        check = audit.verify(s)
    assert not check.ok
    assert check.problems == (f"row {ids[3]}: its content does not match its hash (changed)",)


def test_a_removed_row_is_found(empty_database):
    db = empty_database
    upgrade(db)
    ids = _fill(db)
    _tamper(db, f"DELETE FROM audit_events WHERE id = {ids[2]}")
    with db.transaction(write=False) as s:
        check = audit.verify(s)
    assert any(p.startswith(f"row {ids[3]}: does not follow") for p in check.problems)


def test_concurrent_writers_keep_one_chain(empty_database):
    db = empty_database
    upgrade(db)
    _fill(db, 1)
    actor = auth.Actor(1, "chain.admin", "admin", None)

    def write(i: int) -> None:
        with db.transaction() as s:
            audit.record(s, actor, "update", "concurrent", i)
            if i % 3 == 0:  # some transactions write two rows (a change and its override)
                audit.record(s, actor, "override", "concurrent", i)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(40)))
    with db.transaction(write=False) as s:
        check = audit.verify(s)
        rows = s.execute(
            select(AuditEvent.entity_id, AuditEvent.action)
            .where(AuditEvent.entity == "concurrent")
            .order_by(AuditEvent.id)
        )
        pairs = [tuple(r) for r in rows]
    assert check.ok, check.problems
    assert check.rows == 1 + 1 + 40 + 14  # the user's creation, the fill, the writes
    for i in range(0, 40, 3):  # a transaction's rows stay together and in order
        at = pairs.index((str(i), "update"))
        assert pairs[at + 1] == (str(i), "override")


def test_cli_verify_and_client_address(api, database, tmp_path):
    api.client.get("/patients?limit=1", headers=api.h("researcher"))
    with database.transaction(write=False) as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert last.client == "testclient"  # Starlette's test client's address
    url = f"sqlite:///{tmp_path / 'v.db'}"
    run = CliRunner()
    run.invoke(
        cli, ["user", "add", "v.admin", "--role", "admin", "--url", url], input=PASSWORD + "\n"
    )
    ok = run.invoke(cli, ["audit", "verify", "--url", url])
    assert ok.exit_code == 0 and "the chain is whole" in ok.output
    from raad.store import Database

    db = Database(url)
    _tamper(db, "UPDATE audit_events SET username = 'someone else'")
    db.dispose()
    bad = run.invoke(cli, ["audit", "verify", "--url", url])
    assert bad.exit_code == 1 and "does not match its hash" in bad.output


def test_the_reason_for_a_change_is_kept_and_chained(api, database):
    from tests.api.helpers import new_patient

    p = new_patient(api)
    r = api.client.patch(
        f"/patients/{p['id']}",
        json={"sex": "male", "reason": "registered with the wrong sex; corrected from the ID"},
        headers=api.h("clinician", **{"If-Match": '"1"'}),
    )
    assert r.status_code == 200, r.text
    events = api.client.get(
        "/audit", params={"patient_id": p["id"], "action": "update"}, headers=api.h("admin")
    ).json()["items"]
    assert events[-1]["reason"] == "registered with the wrong sex; corrected from the ID"
    with database.transaction(write=False) as s:
        assert audit.verify(s).ok


# --- revision 0018: the link made at commit ------------------------------------------------------


def _actor():
    return auth.Actor(1, "chain.admin", "admin", None)


def test_link_hash_is_sha256_of_the_two_hex_hashes():
    # SHA-256 of the 128 ASCII characters; Python's hashlib (FIPS 180-4) is the reference
    import hashlib

    prev, content = "0" * 64, "f" * 64
    expected = hashlib.sha256(("0" * 64 + "f" * 64).encode()).hexdigest()
    assert audit.link_hash(prev, content) == expected
    assert audit.link_hash(content, prev) != expected  # order matters


def test_rows_written_before_0018_and_after_verify_as_one_chain(empty_database):
    """Rows hashed the old way (fields and prev_hash together), then rows linked the new way:
    one chain; changing an old row is still found."""
    db = empty_database
    upgrade(db, "0017")
    with db.engine.begin() as c:  # three rows as code before 0018 wrote them
        prev = audit.GENESIS
        for i in range(3):
            values = _old_row(prev, str(i))
            c.execute(audit._insert.statement.values(**values))
            prev = values["row_hash"]
    upgrade(db)
    ids = _fill(db, 3)
    with db.transaction(write=False) as s:
        check = audit.verify(s)
        old = s.scalars(select(AuditEvent).where(AuditEvent.content_hash.is_(None))).all()
    assert check.ok, check.problems
    assert check.rows == len(ids) == 3 + 1 + 3 and len(old) == 3  # old, the user, new
    _tamper(db, f"UPDATE audit_events SET entity_id = '9' WHERE id = {old[1].id}")
    with db.transaction(write=False) as s:
        assert audit.verify(s).problems == (
            f"row {old[1].id}: its content does not match its hash (changed)",
        )


def test_a_changed_content_hash_is_found(empty_database):
    db = empty_database
    upgrade(db)
    ids = _fill(db, 3)
    _tamper(db, f"UPDATE audit_events SET content_hash = '{'a' * 64}' WHERE id = {ids[1]}")
    with db.transaction(write=False) as s:
        assert audit.verify(s).problems == (
            f"row {ids[1]}: its content does not match its hash (changed)",
        )


def _old_row(prev: str, entity_id: str) -> dict:
    """A row as code from before revision 0018 wrote it: fields and prev_hash hashed together."""
    values = {
        "at": audit.utcnow(),
        "user_id": None,
        "username": "chain.admin",
        "action": "update",
        "entity": "thing",
        "entity_id": entity_id,
        "patient_id": None,
        "before": None,
        "after": {"n": entity_id},
        "detail": None,
        "client": None,
        "prev_hash": prev,
    }
    values["row_hash"] = audit.row_hash(values)
    return values


def _pg_only(db) -> None:
    import pytest

    if db.dialect != "postgresql":
        pytest.skip("the link at commit is PostgreSQL's (SQLite's writers are serial)")


def test_an_open_audited_transaction_does_not_hold_up_another(empty_database):
    """The chain's lock is taken at commit: while one audited transaction is still open,
    another records and commits (a lock_timeout turns a wait into a failure)."""
    db = empty_database
    _pg_only(db)
    upgrade(db)
    _fill(db, 1)
    with db.transaction() as first:
        audit.record(first, _actor(), "update", "thing", "open")
        with db.transaction() as second:
            second.execute(text("SET LOCAL lock_timeout = '2s'"))
            audit.record(second, _actor(), "update", "thing", "committed first")
        # the second committed while the first is still open
    with db.transaction(write=False) as s:
        rows = s.execute(select(AuditEvent.id, AuditEvent.entity_id).order_by(AuditEvent.id))
        order = [r.entity_id for r in rows][-2:]
        check = audit.verify(s)
    assert order == ["committed first", "open"]  # ids follow the commits: the chain's order
    assert check.ok, check.problems


def test_the_trigger_links_as_python_does(empty_database):
    db = empty_database
    _pg_only(db)
    upgrade(db)
    _fill(db, 2)
    with db.transaction(write=False) as s:
        rows = s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    prev = audit.GENESIS
    for r in rows:
        assert r.prev_hash == prev
        assert r.row_hash == audit.link_hash(prev, r.content_hash)
        prev = r.row_hash


def test_audit_rows_stay_append_only_and_are_written_only_by_raad(empty_database):
    import pytest
    from sqlalchemy.exc import DBAPIError

    db = empty_database
    _pg_only(db)
    upgrade(db)
    ids = _fill(db, 2)
    for statement in (
        f"UPDATE audit_events SET detail = 'x' WHERE id = {ids[-1]}",
        f"UPDATE audit_events SET id = id + 1000 WHERE id = {ids[-1]}",  # the chain's own columns
        f"UPDATE audit_events SET row_hash = NULL, prev_hash = NULL WHERE id = {ids[-1]}",
        f"DELETE FROM audit_events WHERE id = {ids[-1]}",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as c:
            c.execute(text(statement))
    with pytest.raises(DBAPIError, match="content_hash"), db.engine.begin() as c:
        c.execute(text("INSERT INTO audit_events (at, action, entity) VALUES (now(), 'read', 'x')"))
    with db.transaction(write=False) as s:
        assert audit.verify(s).ok
        assert list(s.scalars(select(AuditEvent.id).order_by(AuditEvent.id))) == ids


def test_a_host_on_code_before_0018_extends_the_same_chain(empty_database):
    """During a rolling upgrade an old host links its row itself (under the same advisory
    lock, after the highest id); the trigger leaves that row be and the next row follows it."""
    db = empty_database
    _pg_only(db)
    upgrade(db)
    _fill(db, 2)
    with db.engine.begin() as c:
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit.CHAIN_LOCK})
        prev = c.execute(text("SELECT row_hash FROM audit_events ORDER BY id DESC")).scalar()
        values = _old_row(prev, "old host")
        c.execute(audit._insert.statement.values(**values))
    _fill(db, 1)
    with db.transaction(write=False) as s:
        check = audit.verify(s)
        names = [r for r in s.scalars(select(AuditEvent.entity_id).order_by(AuditEvent.id))]
    assert check.ok, check.problems
    assert names[-2:] == ["old host", "0"]
