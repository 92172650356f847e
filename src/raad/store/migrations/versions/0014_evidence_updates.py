"""Living evidence: each version of the trial base with its pooled answers and what moved.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raad.store.models import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_updates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_base_version", sa.String(32), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
        sa.Column("agents", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evidence_updates")
