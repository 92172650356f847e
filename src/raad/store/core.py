"""SQLAlchemy Core helpers for the hot paths (reads and inserts that need no unit of work).

Statements are built once, at import, with bound parameters, so each request only binds values
and runs them (SQLAlchemy caches the compiled SQL); rows come back as lightweight ``Row``
objects whose attributes carry the column names the views read. An insert returns the new
primary key (``lastrowid`` on SQLite, ``RETURNING`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Select, Table, func, insert, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

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


class NestedRows:
    """PostgreSQL: the rows of a select carried as one column of another select (an array of
    records, in ``order_by`` order), so one round trip brings a row and the lists that go with
    it; :meth:`rows` gives them back as objects with the select's column names, each value as
    the driver decoded it and then through raad's own column types (``TypeDecorator``).

    ``statement``: a Core select; its own ORDER BY is replaced by ``order_by`` (names of its
    selected columns), which the aggregate applies. ``name``: the column's label. The outer
    select binds the statement's parameters under the same names. An empty list is NULL in
    SQL and ``[]`` here. Only asyncpg decodes such records field by field with their types
    (:meth:`available`); psycopg reads them as text, so its callers run the statement alone.
    """

    @staticmethod
    def available(dialect: Dialect) -> bool:
        """Whether ``dialect``'s driver gives records' fields typed (asyncpg's binary format)."""
        return dialect.name == "postgresql" and dialect.driver == "asyncpg"

    def __init__(self, statement: Select[Any], order_by: tuple[str, ...], name: str) -> None:
        t = statement.order_by(None).subquery(f"{name}_rows")
        self.names = tuple(c.name for c in t.c)
        self._types = tuple(c.type for c in t.c)
        self._processors: dict[str, tuple[Callable[[Any], Any] | None, ...]] = {}
        self.column = (
            select(
                func.array_agg(aggregate_order_by(t.table_valued(), *(t.c[n] for n in order_by)))
            )
            .scalar_subquery()
            .label(name)
        )

    def rows(self, value: list[tuple[Any, ...]] | None, dialect: Dialect) -> list[SimpleNamespace]:
        procs = self._processors.get(dialect.name)
        if procs is None:
            # asyncpg has decoded each field (numbers, times, JSON by the dialect's codec);
            # what remains is raad's own result processing (e.g. UTCDateTime)
            procs = tuple(
                partial(_decorated, t, dialect) if isinstance(t, TypeDecorator) else None
                for t in self._types
            )
            self._processors[dialect.name] = procs
        return [
            SimpleNamespace(
                **{
                    n: (p(v) if p is not None and v is not None else v)
                    for n, p, v in zip(self.names, procs, record, strict=True)
                }
            )
            for record in value or ()
        ]


def _decorated(type_: TypeDecorator[Any], dialect: Dialect, value: Any) -> Any:
    return type_.process_result_value(value, dialect)
