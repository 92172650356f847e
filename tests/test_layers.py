"""The house rules on imports (DESIGN.md, "rooms"): the core never reaches outward.

knowledge and evidence import nothing else of raad; scales imports knowledge; clinical imports
knowledge and scales; pharm imports knowledge. None of them imports store, services, api or web.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "raad"
ALLOWED = {
    "knowledge": set(),
    "evidence": set(),
    "scales": {"knowledge"},
    "clinical": {"knowledge", "scales"},
    "pharm": {"knowledge"},
}


def _raad_imports(path: Path) -> set[str]:
    rooms: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        rooms |= {n.split(".")[1] for n in names if n.startswith("raad.") and n.count(".") >= 1}
    return rooms


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_core_rooms_import_only_what_they_may(room):
    bad = {}
    for path in (SRC / room).rglob("*.py"):
        outside = _raad_imports(path) - ALLOWED[room] - {room}
        if outside:
            bad[str(path.relative_to(SRC))] = sorted(outside)
    assert bad == {}, f"{room} may import only {sorted(ALLOWED[room]) or 'nothing of raad'}"


def test_the_check_sees_imports():
    assert _raad_imports(SRC / "clinical" / "safety.py") >= {"knowledge"}


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.level:
            out.add(node.module or "")
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_no_sql_in_the_web_pages():
    """DESIGN.md: keep SQL out of web pages; a page calls services, which own the queries."""
    bad = {
        str(path.relative_to(SRC)): sorted(
            m for m in _imports(path) if m.startswith(("sqlalchemy", "raad.store"))
        )
        for path in (SRC / "web").rglob("*.py")
    }
    assert {k: v for k, v in bad.items() if v} == {}
