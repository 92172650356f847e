"""Limits every request passes before a route sees it (pure ASGI, so nothing is buffered twice
by Starlette and a refused request never reaches the database):

- body size: at most ``RAAD_MAX_BODY_BYTES`` (default 1 MiB), ``RAAD_MAX_IMPORT_BYTES`` (default
  20 MiB) for FHIR imports; more is refused with 413 before it is read (declared length) or as
  soon as it passes the limit (chunked);
- JSON bodies: nesting at most ``MAX_DEPTH`` levels, and no NUL character or lone UTF-16
  surrogate in any key or string (PostgreSQL cannot store a NUL; a lone surrogate cannot be
  encoded as UTF-8) - refused with 422 naming the path;
- form bodies (the web pages): the same NUL and surrogate check per field.

Errors have the shape of every other raad error (``error``, ``message``, ``field``, ``value``,
``allowed``).
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any
from urllib.parse import parse_qsl

from raad.services import audit

MAX_DEPTH = 64
# the largest id either database stores (PostgreSQL ``integer``; SQLite's is larger): a bigger
# number in a path cannot name a record (404) and in a query is not an id (422), instead of
# reaching the database as an integer it cannot bind
MAX_ID = 2**31 - 1
IMPORT_PATHS = ("/fhir/import", "/ui/import")


def _limit(path: str) -> int:
    if path.startswith(IMPORT_PATHS):
        return int(os.environ.get("RAAD_MAX_IMPORT_BYTES", 20 * 1024 * 1024))
    return int(os.environ.get("RAAD_MAX_BODY_BYTES", 1024 * 1024))


class _RefusedError(Exception):
    def __init__(self, status: int, error: str, field: str, value: Any, allowed: str) -> None:
        self.status = status
        self.body = {
            "error": error,
            "message": f"{field}: got {value!r}; allowed: {allowed}",
            "field": field,
            "value": value,
            "allowed": allowed,
        }


def _bad_text(s: str) -> str | None:
    if "\x00" in s:
        return "text without NUL characters"
    for ch in s:
        if "\ud800" <= ch <= "\udfff":
            return "valid Unicode text (a lone UTF-16 surrogate cannot be stored)"
    return None


YEARS = (1850, 2200)
DAY_RULE = f"a date in the years {YEARS[0]}-{YEARS[1]}"
_DAY = re.compile(r"^(\d{4})-\d{2}-\d{2}")


def _bad_day(v: str) -> bool:
    """An ISO date or date-time outside the years raad records (0001 or 9999 overflow when a
    time zone or a shift is applied)."""
    m = _DAY.match(v)
    return bool(m) and not YEARS[0] <= int(m.group(1)) <= YEARS[1]


# FHIR content (imports, CDS Hooks calls): the FHIR reader reports a bad element with its path
# and reads the rest, so only what no part of raad can hold (NUL, surrogates, depth) is refused
# here, not non-finite numbers, big ids or old dates
FHIR_PATHS = ("/fhir/", "/cds-services/", "/ui/import")


def check_json(value: Any, *, values: bool = True) -> None:
    """Depth, NUL and surrogate checks over a parsed JSON value (iterative, no recursion); also
    non-finite numbers, ids beyond the database and dates outside the years raad records."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        v, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _RefusedError(
                422,
                "InvalidInput",
                path or "body",
                "(nested deeper)",
                f"at most {MAX_DEPTH} levels of nesting",
            )
        if values and isinstance(v, float) and not math.isfinite(v):
            raise _RefusedError(422, "InvalidInput", path or "body", str(v), "a finite number")
        if (
            values
            and isinstance(v, int)
            and not isinstance(v, bool)
            and path.rsplit(".", 1)[-1].endswith("id")
            and abs(v) > MAX_ID
        ):
            raise _RefusedError(
                422, "InvalidInput", path or "body", str(v)[:40], f"an id up to {MAX_ID}"
            )
        if values and isinstance(v, str) and _bad_day(v):
            raise _RefusedError(422, "InvalidInput", path or "body", v[:40], DAY_RULE)
        if isinstance(v, str):
            why = _bad_text(v)
            if why:
                raise _RefusedError(
                    422,
                    "InvalidInput",
                    path or "body",
                    v.encode("utf-8", "backslashreplace").decode()[:80],
                    why,
                )
        elif isinstance(v, dict):
            for k, x in v.items():
                why = _bad_text(k)
                if why:
                    raise _RefusedError(
                        422,
                        "InvalidInput",
                        f"{path or 'body'} (a key)",
                        k.encode("utf-8", "backslashreplace").decode()[:80],
                        why,
                    )
                stack.append((x, f"{path}.{k}" if path else k, depth + 1))
        elif isinstance(v, list):
            stack.extend((x, f"{path or 'body'}[{i}]", depth + 1) for i, x in enumerate(v))


def _check(body: bytes, content_type: str, path: str) -> None:
    if not body:
        return
    content_type = content_type.lower()
    if "multipart/" in content_type:
        if b"\x00" in body and not path.startswith(IMPORT_PATHS):  # no file uploads elsewhere
            raise _RefusedError(
                422, "InvalidInput", "body", "(form)", "text without NUL characters"
            )
        return
    if "json" in content_type:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _RefusedError(
                422, "InvalidInput", "body", "(bytes)", "UTF-8 encoded JSON"
            ) from None
        if text.count("[") + text.count("{") > MAX_DEPTH:  # only then can it be too deep
            depth = 0
            deepest = 0
            for ch in text:  # brackets inside strings count too: an upper bound, then parsed
                if ch in "[{":
                    depth += 1
                    deepest = max(deepest, depth)
                elif ch in "]}":
                    depth -= 1
                if deepest > MAX_DEPTH * 4:
                    raise _RefusedError(
                        422,
                        "InvalidInput",
                        "body",
                        "(nested deeper)",
                        f"at most {MAX_DEPTH} levels of nesting",
                    )
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            return  # not JSON: the route's own parser reports it
        check_json(parsed, values=not path.startswith(FHIR_PATHS))
    elif "x-www-form-urlencoded" in content_type:
        for key, value in parse_qsl(
            body.decode("utf-8", "surrogateescape"), keep_blank_values=True
        ):
            why = _bad_text(key) or _bad_text(value)
            if why:
                raise _RefusedError(
                    422,
                    "InvalidInput",
                    key.encode("utf-8", "backslashreplace").decode()[:80],
                    "(text)",
                    why,
                )
            if _bad_day(value):
                raise _RefusedError(422, "InvalidInput", key[:80], value[:40], DAY_RULE)


def _digits(s: str) -> bool:
    """ASCII digits only ("²".isdigit() is true, and int("²") fails)."""
    return s.isascii() and s.isdigit()


def _too_big(s: str) -> bool:
    """A whole number, signed or not, beyond the ids a database column holds (PostgreSQL's
    integer: -2^31 .. 2^31-1; a wider negative number fails in the driver, not as a 404)."""
    digits = s[1:] if s[:1] in ("-", "+") else s
    return _digits(digits) and int(digits) > MAX_ID


def _check_ids(scope: dict) -> None:
    for segment in scope["path"].split("/"):
        if (bad := _bad_text(segment)) is not None:
            raise _RefusedError(422, "InvalidInput", "path", segment[:40], bad)
        # an id alone, or with a file extension ("/consents/2147483648.pdf")
        if _too_big(segment) or ("." in segment and _too_big(segment.split(".", 1)[0])):
            raise _RefusedError(404, "NotFound", "id", segment[:40], f"an id up to {MAX_ID}")
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        for text in (key, value):
            if "\x00" in text:  # PostgreSQL text cannot hold NUL
                raise _RefusedError(
                    422, "InvalidInput", key[:40], text[:40], "text without NUL characters"
                )
        if (key.endswith("id") or key in ("offset", "limit")) and _too_big(value):
            raise _RefusedError(422, "InvalidInput", key, value[:40], f"a number up to {MAX_ID}")
        if _bad_day(value):
            raise _RefusedError(422, "InvalidInput", key, value[:40], DAY_RULE)


class RequestGuard:
    """ASGI middleware applying the limits above to HTTP requests."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        # the caller's address for the audit trail (behind a proxy: run uvicorn with
        # --proxy-headers so this is the client's, not the proxy's)
        audit.CLIENT.set(str(client[0])[:64] if client else None)
        try:
            _check_ids(scope)
        except _RefusedError as refused:
            await _answer(send, refused)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = _limit(scope["path"])
        try:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _RefusedError(
                    413, "PayloadTooLarge", "body", f"{declared} bytes", f"at most {limit} bytes"
                )
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _RefusedError(
                        413,
                        "PayloadTooLarge",
                        "body",
                        f"more than {limit} bytes",
                        f"at most {limit} bytes",
                    )
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            _check(body, headers.get("content-type", ""), scope["path"])
        except _RefusedError as refused:
            await _answer(send, refused)
            return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _answer(send: Any, refused: _RefusedError) -> None:
    payload = json.dumps(refused.body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
