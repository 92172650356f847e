"""Databases for the service tests: every test that touches the store runs on SQLite and on
PostgreSQL.

PostgreSQL comes from ``RAAD_TEST_POSTGRES`` (default: the local server, trust auth). A fresh
database is created for the test session and dropped after it. When the server cannot be
reached the PostgreSQL cases are skipped, unless ``RAAD_REQUIRE_POSTGRES=1`` (CI sets it), when
they fail.
"""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from raad.services import auth
from raad.services.context import Actor
from raad.store import Database
from raad.store.migrate import upgrade

PG_URL = os.environ.get("RAAD_TEST_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("RAAD_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin():
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_server_url():
    eng = _pg_admin()
    try:
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required (RAAD_REQUIRE_POSTGRES=1) but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    finally:
        eng.dispose()
    return PG_URL


def fresh_database(backend: str, tmp_path_factory, pg_url: str | None = None):
    """A migrated, empty database; returns (Database, cleanup)."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "raad.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db)
        return db, db.dispose
    name = f"raad_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    upgrade(db)

    def cleanup() -> None:
        db.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return db, cleanup


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory):
    pg = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    db, cleanup = fresh_database(request.param, tmp_path_factory, pg)
    yield db
    cleanup()


PASSWORD = "correct horse battery staple"


@dataclass
class World:
    """A site of one's own with its users, so tests never depend on each other's rows."""

    site: str
    other_site: str
    admin: Actor
    clinician: Actor
    researcher: Actor
    other_clinician: Actor
    usernames: dict[str, str]


@pytest.fixture(scope="module")
def world(database) -> World:
    tag = secrets.token_hex(4)
    site, other = f"S{tag}", f"O{tag}"
    names = {}
    actors = {}
    with database.transaction() as s:
        for role_key, role, site_code in (
            ("admin", "admin", None),
            ("clinician", "clinician", site),
            ("researcher", "researcher", None),
            ("other_clinician", "clinician", other),
        ):
            name = f"{role_key}.{tag}"
            u = auth.create_user(s, name, PASSWORD, role, site_code)
            names[role_key] = name
            actors[role_key] = auth.actor_of(u)
    return World(
        site,
        other,
        actors["admin"],
        actors["clinician"],
        actors["researcher"],
        actors["other_clinician"],
        names,
    )


@pytest.fixture(scope="session")
def client(database):
    from fastapi.testclient import TestClient

    from raad.api import create_app

    with TestClient(create_app(database), raise_server_exceptions=False) as c:
        yield c


@dataclass
class Api:
    """Bearer headers per role for the world's users."""

    client: object
    world: World
    headers: dict[str, dict[str, str]]

    def h(self, role: str, **extra: str) -> dict[str, str]:
        return {**self.headers[role], **extra}


@pytest.fixture(scope="module")
def api(client, world) -> Api:
    headers = {}
    for role, name in world.usernames.items():
        r = client.post("/auth/token", data={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        headers[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return Api(client, world, headers)


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path):
    """A new, empty database of each kind (no schema): a file on SQLite, a database of its own
    on the PostgreSQL server (dropped afterwards)."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield db
        db.dispose()
        return
    url = request.getfixturevalue("pg_server_url")
    name = f"raad_empty_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(make_url(url).set(database=name).render_as_string(hide_password=False))
    yield db
    db.dispose()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
