"""The audit trail's hash chain and the caller's address.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 06:00:00.000000

Rows written before this revision stay as they are (the table is append-only: no row is
changed); the chain starts at the first row written after it, and ``raad audit verify`` says
from which row it runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = (("client", 64), ("prev_hash", 64), ("row_hash", 64))


def upgrade() -> None:
    for name, length in _COLUMNS:
        op.add_column("audit_events", sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    for name, _ in reversed(_COLUMNS):
        op.drop_column("audit_events", name)
