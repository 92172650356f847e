"""Who is acting: the authenticated user, their role and site."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "clinician", "researcher"]
ROLES: tuple[Role, ...] = ("admin", "clinician", "researcher")


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str
    role: Role
    site_id: int | None
    time_zone: str = "UTC"  # the site's (IANA name): times are shown and typed in it

    @property
    def identified_access(self) -> bool:
        """Whether this role may see patient identifiers at all."""
        return self.role in ("admin", "clinician")
