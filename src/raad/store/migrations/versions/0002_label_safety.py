"""Overrides of a contraindication on courses and sessions; when a session's post-dose blood
pressure was taken.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# nullable columns only: ADD COLUMN runs as is on SQLite and PostgreSQL, and existing rows
# read as "no override" and "time of the post-dose reading not recorded"
_OVERRIDE = ("courses", "administrations")


def upgrade() -> None:
    for table in _OVERRIDE:
        op.add_column(table, sa.Column("override_reason", sa.Text(), nullable=True))
        op.add_column(table, sa.Column("override_detail", sa.JSON(), nullable=True))
    op.add_column("administrations", sa.Column("bp_post_min", sa.Float(), nullable=True))


def downgrade() -> None:
    # plain columns (no index, key or constraint): ALTER TABLE ... DROP COLUMN on both backends
    # (SQLite 3.35 and later), without rebuilding tables other tables point at
    op.drop_column("administrations", "bp_post_min")
    for table in reversed(_OVERRIDE):
        op.drop_column(table, "override_detail")
        op.drop_column(table, "override_reason")
