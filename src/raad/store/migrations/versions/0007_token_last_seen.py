"""When a token or session was last used, for the idle timeout.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raad.store.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # existing tokens read as "last used when created" (NULL): the idle clock runs from then
    op.add_column(
        "auth_tokens", sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("auth_tokens", "last_seen_at")
