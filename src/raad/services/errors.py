"""Errors a service raises, each with the HTTP status the API answers with."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, **self.detail}


class InvalidInput(ServiceError):
    """A value that is not allowed: names the field, the value and what is allowed."""

    status = 422

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        super().__init__(
            f"{field}: got {value!r}; allowed: {allowed}",
            field=field,
            value=value if isinstance(value, int | float | str | bool | None) else repr(value),
            allowed=allowed,
        )


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class PreconditionFailed(ServiceError):
    """The record changed since the caller read it (stale ``If-Match`` version)."""

    status = 412


class PreconditionRequired(ServiceError):
    status = 428


class PayloadTooLarge(ServiceError):
    status = 413
