"""Rating scales as data, scored exactly: ``get(name).score(responses)``, ``compare`` (two
ratings) and ``course`` (dated ratings: remission, recovery, relapse or recurrence).

Instruments: HAMD-17, HAMD-21 (ECDEU ranges; Hamilton's 1960 ranges as HAMD-21-HAMILTON),
MADRS, QIDS-SR16, PHQ-9, CADSS, C-SSRS (screener).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .compare import Comparison, compare
from .course import Course, course
from .model import Instrument
from .registry import get, instruments, names
from .scoring import ScaleInputError, Score
from .scoring import score as _score


def score(name: str, responses: Mapping[Any, Any], *, allow_incomplete: bool = False) -> Score:
    """Score ``responses`` (item id -> value) on the instrument called ``name``."""
    return _score(get(name), responses, allow_incomplete=allow_incomplete)


__all__ = [
    "Comparison",
    "Course",
    "Instrument",
    "ScaleInputError",
    "Score",
    "compare",
    "course",
    "get",
    "instruments",
    "names",
    "score",
]
