"""SMART App Launch and FHIR Bulk Data export: EHRs raad is registered at as a confidential
client, EHR users linked to raad accounts, launches in flight (state digest, PKCE verifier,
nonce), the context and EHR tokens of finished launches (server-side only), and bulk export
requests with their NDJSON files.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 16:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raad.store.models import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "smart_clients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("iss", sa.String(512), nullable=False, unique=True),
        sa.Column("client_id", sa.String(256), nullable=False),
        sa.Column("client_secret", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "smart_user_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("iss", sa.String(512), nullable=False),
        sa.Column("fhir_user", sa.String(512), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("iss", "fhir_user", name="uq_smart_user_link"),
    )
    op.create_table(
        "smart_launches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("state_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("iss", sa.String(512), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("token_endpoint", sa.String(1024), nullable=False),
        sa.Column("redirect_uri", sa.String(1024), nullable=False),
        _when("created_at"),
        _when("expires_at"),
    )
    op.create_table(
        "smart_contexts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "auth_token_id",
            sa.Integer,
            sa.ForeignKey("auth_tokens.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("iss", sa.String(512), nullable=False),
        sa.Column("fhir_user", sa.String(512), nullable=True),
        sa.Column("ehr_patient", sa.String(256), nullable=True),
        sa.Column("ehr_encounter", sa.String(256), nullable=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=True),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("access_token", sa.Text, nullable=False),
        sa.Column("refresh_token", sa.Text, nullable=True),
        _when("expires_at"),
        _when("created_at"),
    )
    op.create_table(
        "bulk_exports",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("request_url", sa.Text, nullable=False),
        sa.Column("types", sa.Text, nullable=True),
        _when("since", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.String(128), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        _when("created_at"),
        _when("completed_at", nullable=True),
        _when("expires_at", nullable=True),
    )
    op.create_table(
        "bulk_export_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "export_id",
            sa.String(64),
            sa.ForeignKey("bulk_exports.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("ndjson", sa.Text, nullable=False),
        sa.UniqueConstraint("export_id", "resource_type", "seq", name="uq_bulk_export_file"),
    )


def downgrade() -> None:
    for table in (
        "bulk_export_files",
        "bulk_exports",
        "smart_contexts",
        "smart_launches",
        "smart_user_links",
        "smart_clients",
    ):
        op.drop_table(table)
