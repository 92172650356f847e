"""CDS Hooks 2.0 client authentication: trusted EHR issuers with their JWKS and the raad
account their calls act as, and the JWT ids already used (replay refused).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raad.store.models import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_trusted_issuers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("iss", sa.String(512), nullable=False, unique=True),
        sa.Column("jwks_url", sa.String(1024), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cds_jwt_seen",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("iss", sa.String(512), nullable=False),
        sa.Column("jti", sa.String(256), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("iss", "jti", name="uq_cds_jwt_seen"),
    )


def downgrade() -> None:
    op.drop_table("cds_jwt_seen")
    op.drop_table("cds_trusted_issuers")
