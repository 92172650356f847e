"""SQLAlchemy Core helpers for the hot paths (reads and inserts that need no unit of work).

Statements are built once, at import, with bound parameters, so each request only binds values
and runs them (SQLAlchemy caches the compiled SQL); rows come back as lightweight ``Row``
objects whose attributes carry the column names the views read. An insert returns the new
primary key (``lastrowid`` on SQLite, ``RETURNING`` on PostgreSQL). On PostgreSQL, where a
request's cost is mostly its round trips, :class:`InsertBatch` sends inserts that belong
together as one statement and :class:`NestedRows` brings lists along with a row.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Dialect,
    Select,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    null,
    select,
    union_all,
)
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


def connection_of(db: Executor) -> Connection:
    """The Core connection a service's statements run on (a Session's, or ``db`` itself)."""
    return db.connection() if isinstance(db, Session) else db


def table(model: type[Base]) -> Table:
    return model.__table__  # type: ignore[return-value]


class Inserter:
    """``INSERT`` into one table, built once; Python-side column defaults are applied by Core.

    ``returns_id``: whether a caller wants the new row's id back (in an :class:`InsertBatch`,
    rows that do not are sent without ``RETURNING``; the audit trail's ids are given by the
    database at commit)."""

    def __init__(self, model: type[Base], *, returns_id: bool = True) -> None:
        self.table = table(model)
        self.statement = insert(self.table)
        self.returns_id = returns_id
        self._defaults = {
            c.name: c.default.arg
            for c in self.table.columns
            if c.default is not None and not c.primary_key
        }

    def with_defaults(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with the Python-side defaults of the columns it leaves out."""
        for name, default in self._defaults.items():
            if name not in values:
                values[name] = default(None) if callable(default) else default
        return values

    def row(self, values: dict[str, Any]) -> SimpleNamespace:
        """The row as inserted: every column, ``values`` over None."""
        return SimpleNamespace(**(dict.fromkeys(self.table.columns.keys()) | values))

    def __call__(self, db: Executor | InsertBatch, **values: Any) -> SimpleNamespace:
        """Insert one row; returns it as an object with every column (defaults filled in). In
        an :class:`InsertBatch` the row may be sent later (see there)."""
        if isinstance(db, InsertBatch):
            return db.add(self, values)
        self.with_defaults(values)
        conn = connection_of(db)
        result = conn.execute(self.statement, values)
        row = self.row(values)
        row.id = result.inserted_primary_key[0]
        return row


class InsertBatch:
    """Inserts that belong together (a record, its alerts, its audit row) in one round trip.

    On PostgreSQL the rows given to :meth:`add` (or to an :class:`Inserter` called with the
    batch) are held and sent by :meth:`flush` as one statement, each row an ``INSERT`` in a
    ``WITH`` clause (PostgreSQL runs every data-modifying ``WITH`` statement once, in one
    snapshot; foreign keys are checked at the statement's end). A row that needs its id from
    its table's sequence gets it back through ``RETURNING`` when the batch is flushed; a row
    other rows point to must carry its id (reserve it with ``nextval`` beforehand). On other
    databases each row is inserted at once, as an :class:`Inserter` does. Statements are built
    once per shape (tables, columns, which rows return ids) and reused.

    Reads go through :meth:`execute` only while nothing is held (a read after a held row would
    not see it): anything else raises ``RuntimeError``, a programming error.
    """

    def __init__(self, db: Executor) -> None:
        self.conn = connection_of(db)
        self.dialect = self.conn.dialect
        self.deferred = self.dialect.name == "postgresql"
        self._held: list[tuple[Inserter, dict[str, Any], SimpleNamespace]] = []

    def execute(self, statement: Any, parameters: Any = None) -> Any:
        if self._held:
            raise RuntimeError("InsertBatch: a statement run while rows are held; flush() first")
        return self.conn.execute(statement, parameters)

    def add(self, inserter: Inserter, values: dict[str, Any]) -> SimpleNamespace:
        """Insert ``values`` into ``inserter``'s table (now, or at :meth:`flush`); the row as
        inserted, whose ``id`` is None until the flush when the database gives it."""
        if not self.deferred:
            return inserter(self.conn, **values)
        values = inserter.with_defaults(values)
        row = inserter.row(values)
        self._held.append((inserter, values, row))
        return row

    def flush(self) -> None:
        """Send the held rows (PostgreSQL) and fill in the ids the database gave."""
        held, self._held = self._held, []
        if not held:
            return
        shape = tuple(
            (ins.table.name, tuple(values), row.id is None and ins.returns_id)
            for ins, values, row in held
        )
        statement = _BATCHES.get(shape)
        if statement is None:
            statement = _batch_statement(shape, {ins.table.name: ins.table for ins, _, _ in held})
            if len(_BATCHES) < _MAX_BATCH_SHAPES:
                _BATCHES[shape] = statement
        params = {
            f"w{i}_{k}": v for i, (_, values, _) in enumerate(held) for k, v in values.items()
        }
        for k, id_ in self.conn.execute(statement, params):
            if k >= 0:
                held[k][2].id = id_


_BATCHES: dict[tuple[Any, ...], Any] = {}
_MAX_BATCH_SHAPES = 256  # shapes differ by the number of alerts; more than this is not cached


def _batch_statement(shape: tuple[Any, ...], tables: dict[str, Table]) -> Any:
    """``WITH w0 AS (INSERT ...), w1 AS (INSERT ... RETURNING id) ... SELECT 1, id FROM w1``:
    each returned id with the number of its row in the batch."""
    ctes, returned = [], []
    for i, (name, keys, wants_id) in enumerate(shape):
        t = tables[name]
        stmt = insert(t).values({k: bindparam(f"w{i}_{k}", type_=t.c[k].type) for k in keys})
        if wants_id:
            stmt = stmt.returning(t.c.id)
        cte = stmt.cte(f"w{i}")
        ctes.append(cte)
        if wants_id:
            returned.append(select(literal_column(str(i)).label("k"), cte.c.id.label("id")))
    if not returned:
        main: Any = select(literal_column("-1").label("k"), null().label("id"))
    elif len(returned) == 1:
        main = returned[0]
    else:
        main = union_all(*returned)
    return main.add_cte(*ctes)


class NestedRows:
    """PostgreSQL: the rows of a select carried as one column of another select (``column``, a
    scalar subquery: an array of records, in ``order_by`` order), so one round trip brings a
    row and the lists that go with it; :meth:`rows` gives them back as objects with the
    select's column names, each value as the driver decoded it and then through raad's own
    column types (``TypeDecorator``).

    ``statement``: a Core select; its own ORDER BY is replaced by ``order_by`` (names of its
    selected columns), which the aggregate applies. ``name``: the records' alias. The outer
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
        self.column = select(
            func.array_agg(aggregate_order_by(t.table_valued(), *(t.c[n] for n in order_by)))
        ).scalar_subquery()

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
