"""The session record to REMS grade: a timed vital-signs series, lot numbers, concomitant
sedating medicines, the pre-session checklist, who observed, when the patient was ready to
leave, and when the REMS monitoring form was submitted.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raad.store.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("vitals", sa.JSON()),
    ("lot_numbers", sa.JSON()),
    ("concomitant", sa.JSON()),
    ("checklist", sa.JSON()),
    ("observed_by", sa.String(100)),
    ("ready_to_leave_at", UTCDateTime(timezone=True)),
    ("rems_submitted_at", UTCDateTime(timezone=True)),
    ("rems_submitted_by", sa.Integer()),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("administrations", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(_COLUMNS):
        op.drop_column("administrations", name)
