"""Typed input error for the clinical core: names the field, the value and what is allowed."""

from __future__ import annotations

from typing import Any


class ClinicalInputError(ValueError):
    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: got {value!r}; allowed: {allowed}")
