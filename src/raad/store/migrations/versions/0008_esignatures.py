"""Electronic signatures (discharge, alert acknowledgement, locking a course), the printed name
they carry, and the lock on a course.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raad.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("full_name", sa.String(200), nullable=True))
    op.add_column("courses", sa.Column("locked_at", UTCDateTime(timezone=True), nullable=True))
    # the user id, without a foreign key: SQLite cannot add one to a table that others
    # reference without copying it; the lock's signature row (with its key) names the user
    op.add_column("courses", sa.Column("locked_by", sa.Integer, nullable=True))
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.Integer, nullable=False),
        sa.Column("meaning", sa.String(32), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("printed_name", sa.String(200), nullable=False),
        sa.Column("signed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("withdrawn_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_signature_record", "signatures", ["entity", "entity_id"])


def downgrade() -> None:
    op.drop_index("ix_signature_record", "signatures")
    op.drop_table("signatures")
    op.drop_column("courses", "locked_by")
    op.drop_column("courses", "locked_at")
    op.drop_column("users", "full_name")
