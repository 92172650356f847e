"""CDS Hooks 2.0 client authentication and feedback: trusted EHR issuers with their JWKS and
the raad account their calls act as, the JWT ids already used (replay refused), and what
clinicians did with the cards (accepted or overridden, with the reason).

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
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("card", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("reason_display", sa.String(256), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("outcome_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("cds_feedback")
    op.drop_table("cds_jwt_seen")
    op.drop_table("cds_trusted_issuers")
