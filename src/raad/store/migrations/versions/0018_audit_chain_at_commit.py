"""The audit chain linked by the database at commit (PostgreSQL), so audited transactions no
longer hold the chain's lock across round trips to the application.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 19:50:00.000000

Each new row carries ``content_hash``, the SHA-256 of its own fields (computed by raad, see
``services/audit.py``); its link is ``row_hash = SHA-256(prev_hash || content_hash)``. On
PostgreSQL a deferred constraint trigger makes the link when the writing transaction commits:
it takes the chain's advisory lock (the same key the application took before this revision),
reads the last linked row, gives the row its final ``id`` from the table's sequence (so ``id``
order stays the chain's order, commit order) and fills ``prev_hash`` and ``row_hash``. The lock is
then held from the trigger to the end of the commit, inside the server. The append-only guard lets
that one update through (only from the trigger, only on a row not linked yet, only the ``id`` and
the two hashes); every other update or delete is still refused. On SQLite the application links
the row itself (its writers are serial).

Rolling upgrade: hosts still on the code from before this revision link their rows themselves,
under the same advisory lock, after the row with the highest ``id``; the trigger leaves such rows
as they are, and every linked row's ``id`` is given under that lock, so both kinds extend one
chain. Rows from before this revision keep their hashes and are verified as they were written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

CHAIN_LOCK = 0x52414144  # services/audit.py CHAIN_LOCK: one key before and after this revision

_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the chain trigger's own update: a row not linked yet gets its final id and its two hashes
    IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1
       AND OLD.row_hash IS NULL AND OLD.content_hash IS NOT NULL AND NEW.row_hash IS NOT NULL
       AND (to_jsonb(OLD) - 'id' - 'prev_hash' - 'row_hash')
           = (to_jsonb(NEW) - 'id' - 'prev_hash' - 'row_hash') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END $$"""

_CHAIN = """
CREATE FUNCTION audit_events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head text;
BEGIN
    IF NEW.row_hash IS NOT NULL THEN
        RETURN NULL;  -- linked by its writer (a host on code from before revision 0018)
    END IF;
    IF NEW.content_hash IS NULL THEN
        RAISE EXCEPTION 'audit_events row without content_hash: rows are written by raad '
                        '(services/audit.py record), not around it';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit rows are written in READ COMMITTED transactions only (the chain '
                        'reads the last row committed before it), not %',
                        current_setting('transaction_isolation');
    END IF;
    PERFORM pg_advisory_xact_lock({lock});
    -- a new snapshot after the lock: the previous holder's commit is visible
    SELECT row_hash INTO head FROM audit_events
     WHERE row_hash IS NOT NULL ORDER BY id DESC LIMIT 1;
    head := coalesce(head, repeat('0', 64));
    UPDATE audit_events
       SET id = nextval({sequence}::regclass),
           prev_hash = head,
           row_hash = encode(sha256(convert_to(head || NEW.content_hash, 'UTF8')), 'hex')
     WHERE id = NEW.id;
    RETURN NULL;
END $$"""

_CHAIN_TRIGGER = """
CREATE CONSTRAINT TRIGGER audit_events_chain AFTER INSERT ON audit_events
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_events_chain()"""

_APPEND_ONLY_BEFORE = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"""


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("content_hash", sa.String(64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence('audit_events', 'id')")).scalar()
    op.execute(_APPEND_ONLY)
    op.execute(_CHAIN.format(lock=CHAIN_LOCK, sequence=f"'{sequence}'"))
    op.execute(_CHAIN_TRIGGER)


def downgrade() -> None:
    """Rows linked in the new way stay; code from before this revision cannot verify them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_chain ON audit_events")
        op.execute("DROP FUNCTION audit_events_chain()")
        op.execute(_APPEND_ONLY_BEFORE)
    op.drop_column("audit_events", "content_hash")
