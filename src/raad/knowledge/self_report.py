"""Typed loader for ``self_report.yaml``: which questionnaires patients may answer from home,
how long a link works, the default schedule per agent (with its sources, or marked as raad's
default), and the wording of messages (no identifying or clinical content)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from .sources import Citation, load_model


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LinkTimes(_M):
    valid_hours: float
    remind_before_expiry_hours: float
    note: str


class DefaultSchedule(_M):
    id: str
    agent: str
    instrument: str
    anchor: Literal["session", "daily"]
    offsets_hours: tuple[float, ...] = ()
    local_time: str | None = None
    note: str
    cite: tuple[Citation, ...]

    @model_validator(mode="after")
    def _shape(self) -> DefaultSchedule:
        if self.anchor == "session" and not self.offsets_hours:
            raise ValueError(f"{self.id}: a session schedule needs offsets_hours")
        if self.anchor == "daily" and not self.local_time:
            raise ValueError(f"{self.id}: a daily schedule needs local_time")
        return self


class Messages(_M):
    invitation_subject: str
    invitation: str
    reminder_subject: str
    reminder: str


class SelfReport(_M):
    instruments: tuple[str, ...]
    not_offered: dict[str, str]
    only_for_agents: dict[str, tuple[str, ...]] = {}
    link: LinkTimes
    min_gap_hours: dict[str, float]
    defaults: tuple[DefaultSchedule, ...]
    messages: Messages

    def citations(self) -> list[Citation]:
        return [c for d in self.defaults for c in d.cite]

    def default_for(self, agent: str) -> DefaultSchedule | None:
        return next((d for d in self.defaults if d.agent == agent), None)


@cache
def load_self_report() -> SelfReport:
    """The settings, checked against ``sources.yaml`` (the instrument names against the
    instrument registry in the tests: knowledge imports nothing of raad)."""
    return load_model("self_report.yaml", SelfReport)
