"""A site's time zone (IANA name): times are stored in UTC and shown, and typed, in the
site's local time. NULL reads as UTC.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sites", sa.Column("time_zone", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("sites", "time_zone")
