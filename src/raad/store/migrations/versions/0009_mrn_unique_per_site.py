"""A record number is unique within a site: the identity row carries its patient's site, and a
unique index holds (site, record number). Stops with the duplicates named if any exist.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    dupes = bind.execute(
        sa.text(
            "SELECT p.site_id, i.mrn, COUNT(*) AS n FROM patient_identities i "
            "JOIN patients p ON p.id = i.patient_id GROUP BY p.site_id, i.mrn HAVING COUNT(*) > 1"
        )
    ).all()
    if dupes:
        named = "; ".join(f"site {d.site_id}: record number {d.mrn!r} x{d.n}" for d in dupes[:20])
        raise RuntimeError(
            "record numbers are registered more than once at a site; merge or renumber these "
            f"patients, then upgrade again: {named}"
        )
    # the site's id, without a foreign key (SQLite cannot add one in place; patients.site_id
    # has it and the services keep the two equal)
    op.add_column("patient_identities", sa.Column("site_id", sa.Integer, nullable=True))
    bind.execute(
        sa.text(
            "UPDATE patient_identities SET site_id = "
            "(SELECT site_id FROM patients WHERE patients.id = patient_identities.patient_id)"
        )
    )
    op.create_index("uq_identity_site_mrn", "patient_identities", ["site_id", "mrn"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_identity_site_mrn", "patient_identities")
    op.drop_column("patient_identities", "site_id")
