"""``store.core.NestedRows``: a select's rows as one array-of-records column (asyncpg), given
back in the order asked for, each value as the driver decoded it and then through raad's own
column types (``TypeDecorator``), NULLs kept; no rows is an empty list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import String, literal_column, select, type_coerce, values
from sqlalchemy.types import Float, Integer, TypeDecorator

from raad.store.core import NestedRows
from raad.store.models import UTCDateTime
from tests.services.helpers import through_asyncpg


class Shouted(TypeDecorator):
    """A test type whose result processing is visible: text comes back upper-cased."""

    impl = String
    cache_ok = True

    def process_result_value(self, value, dialect):
        return None if value is None else value.upper()


ROWS = values(
    literal_column("k", Integer),
    literal_column("word", String),
    literal_column("x", Float),
    literal_column("at", UTCDateTime()),
    name="v",
).data(
    [
        (3, "third", 0.1, datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)),
        (1, "first", None, datetime(2026, 1, 1, tzinfo=UTC)),
        (2, None, 2.5, None),
    ]
)


def test_rows_come_back_ordered_typed_and_processed(database):
    if database.dialect != "postgresql":
        pytest.skip("arrays of records are PostgreSQL's")
    inner = select(ROWS.c.k, type_coerce(ROWS.c.word, Shouted()).label("word"), ROWS.c.x, ROWS.c.at)
    nested = NestedRows(inner, ("k",), "things")
    none = NestedRows(inner.where(ROWS.c.k > 10), ("k",), "nothing")
    outer = select(nested.column.label("things"), none.column.label("nothing"))

    def read(conn):
        assert NestedRows.available(conn.dialect)
        row = conn.execute(outer).one()
        return nested.rows(row.things, conn.dialect), none.rows(row.nothing, conn.dialect)

    got, empty = through_asyncpg(database, read)
    assert [vars(r) for r in got] == [
        {"k": 1, "word": "FIRST", "x": None, "at": datetime(2026, 1, 1, tzinfo=UTC)},
        {"k": 2, "word": None, "x": 2.5, "at": None},
        {"k": 3, "word": "THIRD", "x": 0.1, "at": datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)},
    ]
    assert empty == []
    with database.transaction(write=False) as s:  # psycopg reads records as text: not offered
        assert not NestedRows.available(s.connection().dialect)
