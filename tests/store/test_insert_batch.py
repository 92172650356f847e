"""``store.core.InsertBatch``: a record, its alerts and its audit row in one statement on
PostgreSQL (each row an INSERT in a WITH clause), inserted one by one elsewhere; ids given by
the database come back to their rows; a failing row writes nothing; a read while rows are held
is refused."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from raad.services import audit
from raad.services.alerts import store_alert
from raad.services.assessments import _insert_assessment
from raad.store.core import InsertBatch
from raad.store.models import Alert, Assessment, AuditEvent
from tests.services.helpers import register_patient


@contextmanager
def counted(conn):
    """The SQL statements ``conn`` sends while the block runs."""
    sent: list[str] = []

    def listen(_conn, _cursor, statement, *_args):
        sent.append(statement)

    event.listen(conn, "before_cursor_execute", listen)
    try:
        yield sent
    finally:
        event.remove(conn, "before_cursor_execute", listen)


def _raised(code: str, level: str = "warning"):
    from raad.clinical.safety import Alert as Raised

    return Raised(
        code=code, level=level, message=f"{code} for the test", facts={"n": 1.5}, sources=("test",)
    )


def _rating(pid: int, created_by: int, **over):
    values = {
        "patient_id": pid,
        "instrument": "PHQ-9",
        "responses": {"9": 2},
        "total": 2,
        "severity": "minimal",
        "suicide_flag": True,
        "administered_at": datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
        "created_by": created_by,
        "source": "clinician",
    }
    return values | over


def _reserve(conn) -> int | None:
    if conn.dialect.name != "postgresql":
        return None
    return conn.execute(
        text("SELECT nextval(pg_get_serial_sequence('assessments', 'id'))")
    ).scalar()


def test_a_rating_its_alerts_and_its_audit_row_in_one_statement(database, world):
    pid = register_patient(database, world)["id"]
    pg = database.dialect == "postgresql"
    with database.core_transaction() as conn:
        reserved = _reserve(conn)
        with counted(conn) as sent:
            batch = InsertBatch(conn)
            row = _insert_assessment(
                batch,
                **_rating(pid, world.clinician.user_id),
                **({"id": reserved} if reserved else {}),
            )
            alerts = [
                store_alert(batch, _raised(c), patient_id=pid, assessment_id=row.id)
                for c in ("first", "second")
            ]
            audit.record(batch, world.clinician, "create", "assessment", row.id, patient_id=pid)
            held = list(sent)
            assert all(a.id is None for a in alerts) if pg else all(a.id for a in alerts)
            batch.flush()
        if pg:
            assert held == [] and len(sent) == 1 and sent[0].lstrip().startswith("WITH")
        else:  # one by one: the rating, two alerts, the chain's head read, the audit row
            assert len(sent) == 5
        assert row.id == (reserved if pg else row.id) and row.id is not None
        ids = [a.id for a in alerts]
        assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 2
        stored = conn.execute(
            select(Alert.id, Alert.code, Alert.assessment_id).where(Alert.id.in_(ids))
        ).all()
        # each returned id is its own row's: the codes match the rows they were given to
        assert sorted(stored) == sorted((a.id, a.code, row.id) for a in alerts) and {
            a.code for a in alerts
        } == {"first", "second"}
    with database.transaction(write=False) as s:
        assert s.get(Assessment, row.id).patient_id == pid
        assert audit.verify(s).ok
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.entity == "assessment", AuditEvent.entity_id == str(row.id))
            )
            == 1
        )


def test_a_failing_row_raises_and_its_transaction_writes_nothing(database, world):
    """The batch does not swallow a failing row: the error reaches the caller, whose
    transaction then leaves neither the rating nor the audit row (on PostgreSQL the one
    statement fails as a whole; on SQLite the rating was inserted and is rolled back)."""
    pid = register_patient(database, world)["id"]
    with database.transaction(write=False) as s:
        before = s.scalar(select(func.count()).select_from(Assessment))
        audited = s.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(IntegrityError), database.core_transaction() as conn:
        reserved = _reserve(conn)
        batch = InsertBatch(conn)
        row = _insert_assessment(
            batch, **_rating(pid, world.clinician.user_id), **({"id": reserved} if reserved else {})
        )
        store_alert(batch, _raised("orphan"), patient_id=pid, assessment_id=10**9)  # no such
        audit.record(batch, world.clinician, "create", "assessment", row.id, patient_id=pid)
        batch.flush()
    with database.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Assessment)) == before
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == audited


def test_a_read_while_rows_are_held_is_refused(database, world):
    pid = register_patient(database, world)["id"]
    with database.core_transaction() as conn:
        batch = InsertBatch(conn)
        assert batch.execute(select(func.count()).select_from(Assessment)).scalar() >= 0
        store_alert(batch, _raised("held"), patient_id=pid)
        if database.dialect == "postgresql":
            with pytest.raises(RuntimeError, match="flush"):
                batch.execute(select(func.count()).select_from(Alert))
            batch.flush()
        assert batch.execute(select(func.count()).select_from(Alert)).scalar() >= 1
