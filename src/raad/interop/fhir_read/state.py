"""What a read collects as it goes through a Bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from raad.clinical.facts import Entry


@dataclass
class Observed:
    when: datetime
    value: Any
    source: str


@dataclass
class ReadState:
    as_of: datetime
    facts: dict[str, Any]
    conditions: list[Entry] = field(default_factory=list)
    medications: list[Entry] = field(default_factory=list)
    allergies: list[Entry] | None = None
    used: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_names: dict[str, dict[str, None]] = field(default_factory=dict)
    withdrawn: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    patient_problems: list[str] = field(default_factory=list)
    observed: dict[str, list[Observed]] = field(default_factory=dict)
    bp_parts: dict[tuple[datetime, str], dict[str, float]] = field(default_factory=dict)
    medication_index: dict[str, dict[str, Any]] = field(default_factory=dict)

    def observe(self, fact: str, when: datetime | None, value: Any, source: str) -> None:
        if when is None:
            self.unused.append(
                f"{source}: {fact.replace('_', ' ')} without an effective time: not used"
            )
            return
        self.observed.setdefault(fact, []).append(Observed(when, value, source))
