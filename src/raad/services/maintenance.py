"""What a database restore means for the records: a token revoked after the backup was taken
is valid again in the restored data, so every session and bearer token is revoked (everyone logs
in again), and the restore itself is written to the audit trail."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from raad.store import Database
from raad.store.models import AuthToken

from . import audit


def after_restore(db: Database, source: Path) -> int:
    """Revoke every token and audit the restore; returns how many tokens were revoked."""
    with db.transaction() as s:
        n = s.execute(
            update(AuthToken).where(AuthToken.revoked.is_(False)).values(revoked=True)
        ).rowcount
        audit.record(
            s,
            None,
            "restore",
            "database",
            None,
            detail=f"restored from {Path(source).name}; {n} session(s) and token(s) revoked",
        )
    return n
