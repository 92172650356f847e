"""Persistence: SQLAlchemy models, the engine (SQLite by default, PostgreSQL for many users),
Alembic migrations and the append-only audit trail."""

from .db import Database, database_url
from .models import Base

__all__ = ["Base", "Database", "database_url"]
