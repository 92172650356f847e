"""SQLAlchemy Core helpers for the hot paths (reads and inserts that need no unit of work).

Statements are built once, at import, with bound parameters, so each request only binds values
and runs them (SQLAlchemy caches the compiled SQL); rows come back as lightweight ``Row``
objects whose attributes carry the column names the views read. An insert returns the new
primary key (``lastrowid`` on SQLite, ``RETURNING`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, insert
from sqlalchemy.orm import Session

from .models import Base

Executor = Session | Connection  # what a Core-only service runs its statements on
F = TypeVar("F", bound=Callable[..., Any])


def core_only(fn: F) -> F:
    """Mark a service that runs only Core statements (``execute``, ``scalar``, inserts through
    :class:`Inserter`): callers may give it a bare ``Connection`` in a transaction, which costs
    less than an ORM ``Session``."""
    fn.core_only = True  # type: ignore[attr-defined]
    return fn


def is_core_only(fn: Callable[..., Any]) -> bool:
    return getattr(fn, "core_only", False)


def table(model: type[Base]) -> Table:
    return model.__table__  # type: ignore[return-value]


class Inserter:
    """``INSERT`` into one table, built once; Python-side column defaults are applied by Core."""

    def __init__(self, model: type[Base]) -> None:
        self.table = table(model)
        self.statement = insert(self.table)
        self._defaults = {
            c.name: c.default.arg
            for c in self.table.columns
            if c.default is not None and not c.primary_key
        }

    def __call__(self, db: Executor, **values: Any) -> SimpleNamespace:
        """Insert one row; returns it as an object with every column (defaults filled in)."""
        row = dict.fromkeys(self.table.columns.keys())
        for name, default in self._defaults.items():
            if name not in values:
                values[name] = default(None) if callable(default) else default
        row.update(values)
        conn = db.connection() if isinstance(db, Session) else db
        result = conn.execute(self.statement, values)
        row["id"] = result.inserted_primary_key[0]
        return SimpleNamespace(**row)
