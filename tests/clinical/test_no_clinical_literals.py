"""Clinical numbers live in knowledge/ data, not in clinical/ code.

Every numeric literal in src/raad/clinical/*.py must be a unit conversion or an index, from a
short allow-list; a threshold typed into code instead of the data files fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import raad.clinical

ALLOWED = {
    0,
    1,
    2,
    3,
    7,
    10,
    24,
    60,
    100,
    300,
    1000,
    50_000,
    10_000,
    24 * 60,
    65_536,
}  # indices, days/week, h/day, min/h, %
# 10_000 mg and 24*60 min are input-sanity ceilings, not clinical thresholds; 300, 1000 and
# 50_000 are input-size ceilings (characters of a code or text, entries in a list); 65_536 is the
# size of the screening's match memo; 10 is how many unread records a reason lists.


def test_no_clinical_literals_in_clinical_code():
    folder = Path(raad.clinical.__file__).parent
    offenders = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, int | float)
                and not isinstance(node.value, bool)
                and node.value not in ALLOWED
            ):
                offenders.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not offenders, "clinical literals in code (move them to knowledge/): " + ", ".join(
        offenders
    )
