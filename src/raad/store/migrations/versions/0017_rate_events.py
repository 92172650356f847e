"""Rate limits in the database: counted events (login attempts, self-report links that did not
open) per client address, so every worker process and application host counts together.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 16:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raad.store.models import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rate_events_kind_client_at", "rate_events", ["kind", "client", "at"])


def downgrade() -> None:
    op.drop_index("ix_rate_events_kind_client_at", table_name="rate_events")
    op.drop_table("rate_events")
