"""The runtime install (README's first command: ``pip install -e .``, no extras) brings what
serving on PostgreSQL imports: SQLAlchemy's asyncio extension needs ``greenlet``, which only a
test tool (Playwright) brought before, so the busiest routes answered 500 on a plain install.
The closure is computed from the installed distributions' own metadata, following only the
extras each requirement names and the markers of this platform."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _closure(requirements: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [(Requirement(r), frozenset()) for r in requirements]
    while todo:
        req, extras = todo.pop()
        env_extras = extras or {""}
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": e}) for e in env_extras
        ):
            continue
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for sub in metadata.requires(req.name) or []:
            todo.append((Requirement(sub), frozenset(req.extras)))
    return {k.split("[")[0] for k in seen}


def test_the_runtime_install_brings_what_serving_on_postgresql_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _closure(project["dependencies"])
    for needed in ("greenlet", "asyncpg", "psycopg", "sqlalchemy", "uvicorn"):
        assert needed in runtime, f"{needed} is not brought by the runtime dependencies"
    # and the check can tell: the test tools bring Playwright, the runtime does not
    assert "playwright" not in runtime
    assert "playwright" in _closure(project["optional-dependencies"]["test"])
