"""The reason given for a change, kept in the audit trail.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_events", "reason")
