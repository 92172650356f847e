"""Shared set-up for the service tests."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from raad.services import patients
from raad.services.schemas import IdentityIn, PatientIn


def register_patient(database, world, facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """A synthetic woman born 1980-05-01 with ``facts``, registered by the clinician; the view."""
    with database.transaction() as s:
        return patients.register(
            s,
            world.clinician,
            PatientIn(
                identity=IdentityIn(
                    given_name="Test",
                    family_name=f"Synthetic-{secrets.token_hex(3)}",
                    mrn=f"T-{secrets.token_hex(4)}",
                    birth_date=date(1980, 5, 1),
                ),
                sex="female",
                facts=facts or {},
            ),
        )


def through_asyncpg(database, fn):
    """``fn(connection)`` on an asyncpg connection (the API's event-loop engine)."""
    import asyncio

    from raad.store.db import pg_loop_engine

    async def run():
        engine = pg_loop_engine(database.engine.url.render_as_string(hide_password=False))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(run())
