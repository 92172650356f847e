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
        shown = echo(value)
        super().__init__(
            f"{field}: got {shown!r}; allowed: {allowed}",
            field=field,
            value=shown,
            allowed=allowed,
        )


ECHO_CHARS = 200


def echo(value: Any) -> Any:
    """A refused value as an error may repeat it: numbers, booleans and None as they are, text
    cut to 200 characters (a 30 MB name is not sent back) with anything UTF-8 cannot carry
    escaped, anything else as its (cut) repr."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "..."


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Gone(ServiceError):
    """A thing that existed and no longer works (a used, expired or revoked link)."""

    status = 410


class NotYet(ServiceError):
    """Not available yet (a self-report link before it is due)."""

    status = 409


class PreconditionFailed(ServiceError):
    """The record changed since the caller read it (stale ``If-Match`` version)."""

    status = 412


class PreconditionRequired(ServiceError):
    status = 428


class PayloadTooLarge(ServiceError):
    status = 413


class TooManyRequests(ServiceError):
    status = 429
