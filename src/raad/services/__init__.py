"""One function per user action. Each runs the clinical core, checks authorisation, and writes
its records and their audit rows in the caller's single transaction."""

from .context import Actor
from .errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServiceError,
    Unauthorized,
)

__all__ = [
    "Actor",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PreconditionFailed",
    "ServiceError",
    "Unauthorized",
]
