"""Patients report from home: self-report links (single use, expiring, revocable; tokens kept
as SHA-256 only), per-course schedules, an outbox of messages to deliver, patients' contact
details with their consent, per-site settings (opt-in, crisis resources), and the source of an
assessment (clinician or patient).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raad.store.models import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_WHEN = UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "sites", sa.Column("self_report", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("sites", sa.Column("crisis_text", sa.Text, nullable=True))
    op.add_column(
        "sites",
        sa.Column("monitored_in_real_time", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    for column in (
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("contact_channel", sa.String(8), nullable=True),
        sa.Column("contact_consent_at", _WHEN, nullable=True),
        sa.Column("contact_consent_by", sa.Integer, nullable=True),
    ):
        op.add_column("patient_identities", column)
    op.create_table(
        "self_report_schedules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("course_id", sa.Integer, sa.ForeignKey("courses.id"), nullable=False),
        sa.Column("instrument", sa.String(16), nullable=False),
        sa.Column("anchor", sa.String(8), nullable=False),  # session | daily
        sa.Column("offsets_hours", sa.JSON, nullable=True),
        sa.Column("local_time", sa.String(5), nullable=True),
        sa.Column("days", sa.Integer, nullable=True),
        sa.Column("valid_hours", sa.Float, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_index("ix_srs_course", "self_report_schedules", ["course_id"])
    op.create_table(
        "self_report_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("course_id", sa.Integer, sa.ForeignKey("courses.id"), nullable=True),
        sa.Column(
            "schedule_id", sa.Integer, sa.ForeignKey("self_report_schedules.id"), nullable=True
        ),
        sa.Column("slot", sa.String(64), nullable=True),
        sa.Column("instrument", sa.String(16), nullable=False),
        sa.Column("due_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("opened_at", _WHEN, nullable=True),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.Column("assessment_id", sa.Integer, sa.ForeignKey("assessments.id"), nullable=True),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.Column("revoked_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("revoked_reason", sa.Text, nullable=True),
        sa.Column("reminded_at", _WHEN, nullable=True),
        sa.Column("draft", sa.JSON, nullable=True),
        sa.UniqueConstraint("schedule_id", "slot", name="uq_srl_schedule_slot"),
    )
    op.create_index("ix_srl_patient", "self_report_links", ["patient_id"])
    op.create_index("ix_srl_due", "self_report_links", ["due_at"])
    op.create_table(
        "self_report_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("link_id", sa.Integer, sa.ForeignKey("self_report_links.id"), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_key", sa.String(64), nullable=False, unique=True),
        sa.Column("link_id", sa.Integer, sa.ForeignKey("self_report_links.id"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),  # invitation | reminder
        sa.Column("channel", sa.String(8), nullable=False),  # email | sms
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("body", sa.Text, nullable=True),  # cleared once sent (it holds a live link)
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _WHEN, nullable=False),
        sa.Column("claimed_at", _WHEN, nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("sent_at", _WHEN, nullable=True),
        sa.Column("provider_id", sa.String(128), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    # a rating a patient gave through a link: source "patient"; created_by is then the
    # clinician who sent the link or set up the schedule (the course's)
    op.add_column(
        "assessments",
        sa.Column("source", sa.String(16), nullable=False, server_default="clinician"),
    )
    op.add_column("assessments", sa.Column("link_id", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("assessments", "link_id")
    op.drop_column("assessments", "source")
    op.drop_index("ix_outbox_due", "outbox")
    op.drop_table("outbox")
    op.drop_table("self_report_tokens")
    op.drop_index("ix_srl_due", "self_report_links")
    op.drop_index("ix_srl_patient", "self_report_links")
    op.drop_table("self_report_links")
    op.drop_index("ix_srs_course", "self_report_schedules")
    op.drop_table("self_report_schedules")
    for c in ("contact_consent_by", "contact_consent_at", "contact_channel", "phone", "email"):
        op.drop_column("patient_identities", c)
    for c in ("monitored_in_real_time", "crisis_text", "self_report"):
        op.drop_column("sites", c)
