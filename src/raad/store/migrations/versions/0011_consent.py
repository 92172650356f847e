"""Consent: versioned consent documents per agent and site, and patients' signed consents
(with the PDF archived as signed).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raad.store.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("agent", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.UniqueConstraint("site_id", "agent", "version", name="uq_consent_document_version"),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("consent_documents.id"), nullable=False),
        sa.Column("patient_name", sa.String(200), nullable=False),
        sa.Column("signed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("signed_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("pdf", sa.LargeBinary, nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("withdrawn_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_consent_patient", "consents", ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_consent_patient", "consents")
    op.drop_table("consents")
    op.drop_table("consent_documents")
