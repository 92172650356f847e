"""Alembic environment: migrates the database raad is configured for (``RAAD_DATABASE_URL`` or
the URL passed by ``raad.store.migrate.upgrade``)."""

from __future__ import annotations

from alembic import context

from raad.store.db import database_url, make_engine
from raad.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or database_url())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
