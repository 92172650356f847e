"""Migration 0002 (overrides, time of the post-dose reading) on a database holding 0001 rows,
on SQLite and PostgreSQL: old rows read as "no override" and "time not recorded"; 0003 gives
each old patient a date shift; it downgrades and upgrades again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from raad.services import courses, sessions
from raad.services.context import Actor
from raad.store import Database
from raad.store.migrate import alembic_config, current_revision, head_revision, upgrade
from raad.store.models import Base

_ROWS = [
    "INSERT INTO sites (id, code, name) VALUES (1, 'MIG', 'Migration site')",
    "INSERT INTO users (id, username, password_hash, role, site_id, active, failed_logins,"
    " created_at) VALUES (1, 'mig', 'x', 'clinician', 1, true, 0, '2026-01-01 00:00:00')",
    "INSERT INTO patients (id, research_id, site_id, facts, version, created_at, updated_at,"
    " created_by) VALUES (1, 'R-MIG', 1, '{}', 1, '2026-01-01 00:00:00',"
    " '2026-01-01 00:00:00', 1)",
    "INSERT INTO courses (id, patient_id, regimen, agent, start_date, plan, status,"
    " knowledge_version, version, created_at, created_by) VALUES (1, 1, 'esketamine-label',"
    " 'esketamine', '2026-01-05', '{\"sessions\": []}', 'active', 'old', 1,"
    " '2026-01-01 00:00:00', 1)",
    "INSERT INTO administrations (id, course_id, patient_id, agent, route, dose_mg, start,"
    " bp_post_systolic, bp_post_diastolic, observation_min, adverse_events, unresolved,"
    " version, created_at, created_by) VALUES (1, 1, 1, 'esketamine', 'intranasal', 56,"
    " '2026-01-05 10:00:00', 130, 80, 130, '[]', '[]', 1, '2026-01-05 10:00:00', 1)",
]


def _downgrade(db: Database, revision: str) -> None:
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_0002_keeps_old_rows_and_round_trips(empty_database):
    db = empty_database
    upgrade(db, "0001")
    with db.engine.begin() as conn:
        for statement in _ROWS:
            conn.execute(text(statement))
    upgrade(db)
    assert current_revision(db) == head_revision(db) == "0018"
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        # 0003: each existing patient was given its own date shift for researchers, 1-365 back
        shifts = conn.execute(text("SELECT date_shift_days FROM patients")).scalars().all()
        assert shifts and all(-365 <= d <= -1 for d in shifts)
    actor = Actor(user_id=1, username="mig", role="clinician", site_id=1)
    with db.transaction(write=False) as s:
        course = courses.get(s, actor, 1)
        session = sessions.get(s, actor, 1)
    assert course["override"] is None
    assert session["override"] is None and session["bp_post_min"] is None
    assert session["discharge_not_before"]["earliest_discharge"].startswith("2026-01-05T12:10")
    _downgrade(db, "0001")
    assert current_revision(db) == "0001"
    with db.engine.connect() as conn:
        cols = conn.execute(text("SELECT * FROM administrations")).keys()
        assert "bp_post_min" not in cols and "override_reason" not in cols
        assert conn.execute(text("SELECT dose_mg FROM administrations")).scalar() == 56
    upgrade(db)
    assert current_revision(db) == "0018"


def test_0009_refuses_duplicate_record_numbers_with_their_names(empty_database):
    """A record number registered twice at a site (possible before 0009) stops the upgrade with
    the duplicates named, instead of failing on the index or losing a row."""
    import pytest

    db = empty_database
    upgrade(db, "0008")
    with db.engine.begin() as conn:
        for statement in _ROWS:
            conn.execute(text(statement))
        conn.execute(
            text(
                "INSERT INTO patients (id, research_id, site_id, sex, birth_year, facts, version, "
                "created_at, updated_at, created_by) SELECT 2, 'R-DUP', site_id, sex, birth_year, "
                "facts, 1, created_at, updated_at, created_by FROM patients WHERE id = 1"
            )
        )
        for pid in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO patient_identities (patient_id, given_name, family_name, mrn) "
                    f"VALUES ({pid}, 'Dup', 'Licate', 'MRN-TWICE')"
                )
            )
    with pytest.raises(Exception, match="registered more than once at a site"):
        upgrade(db)
    assert current_revision(db) == "0008"
