"""Typed input error for the simulator: names the field, the value and what is allowed."""

from __future__ import annotations

from typing import Any


class PharmInputError(ValueError):
    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field}: got {value!r}; allowed: {allowed}")
