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
            audit.record(s, actor, "update", "thing", i)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(40)))
    with db.transaction(write=False) as s:
        check = audit.verify(s)
    assert check.ok, check.problems
    assert check.rows == 1 + 1 + 40  # the user's creation, the fill, the 40 writes


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
