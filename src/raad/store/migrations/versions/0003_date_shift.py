"""A per-patient date shift for de-identified (researcher) views.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 05:00:00.000000
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable at first so existing rows can be given their own random shift, one by one
    op.add_column("patients", sa.Column("date_shift_days", sa.Integer(), nullable=True))
    conn = op.get_bind()
    patients = sa.table("patients", sa.column("id"), sa.column("date_shift_days"))
    for (pid,) in conn.execute(sa.select(patients.c.id)).all():
        conn.execute(
            patients.update()
            .where(patients.c.id == pid)
            .values(date_shift_days=-(secrets.randbelow(365) + 1))
        )


def downgrade() -> None:
    op.drop_column("patients", "date_shift_days")
