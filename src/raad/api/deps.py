"""Request plumbing: the database, the caller, transactions, ETags and idempotency keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from raad.services import audit, auth
from raad.services.context import Actor
from raad.services.errors import (
    Forbidden,
    InvalidInput,
    PreconditionFailed,
    PreconditionRequired,
    ServiceError,
    Unauthorized,
)
from raad.services.preconditions import IfMatch
from raad.store import Database
from raad.store.core import is_core_only

SESSION_COOKIE = "raad_session"
CSRF_COOKIE = "raad_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
INLINE_WRITE_WAIT_S = 0.02  # longest an event loop waits for the SQLite writer gate


def database(request: Request) -> Database:
    return request.app.state.db


def current_actor(request: Request, session: Any = None) -> Actor:
    """The caller, from a bearer token or (for the browser) the session cookie plus CSRF token.

    Resolved once per request; with ``session`` the lookup runs in the caller's transaction.
    """
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    if session is None:
        with database(request).transaction(write=False) as s:
            return current_actor(request, s)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization header must be 'Bearer <token>'")
        secret = token.strip()
        actor, due = auth.resolve(session, secret, "bearer")
    elif SESSION_COOKIE in request.cookies:
        secret = request.cookies[SESSION_COOKIE]
        actor, due = auth.resolve(
            session,
            secret,
            "cookie",
            csrf=request.headers.get(CSRF_HEADER),
            need_csrf=request.method not in SAFE_METHODS,
        )
    else:
        raise Unauthorized("not authenticated: send 'Authorization: Bearer <token>'")
    request.state.actor = actor
    if due:
        request.state.touch = secret  # recorded after the request's own transaction
    return actor


def touch_if_due(request: Request) -> None:
    """Keep the token's last use (the idle timeout's clock) in a short write of its own, at
    most every few minutes per token, so reads stay reads."""
    secret = getattr(request.state, "touch", None)
    if secret is None:
        return
    request.state.touch = None
    with database(request).core_transaction(write=True) as c:
        auth.touch(c, secret)


def run(request: Request, fn: Callable[..., Any], *args: Any, write: bool = True, **kw: Any) -> Any:
    """Run a service function in one transaction (committed before the response is sent); the
    caller is authenticated in the same transaction."""
    db = database(request)
    try:
        if is_core_only(fn):
            with db.core_transaction(write=write) as c:
                result = fn(c, current_actor(request, c), *args, **kw)
        else:
            with db.transaction(write=write) as s:
                result = fn(s, current_actor(request, s), *args, **kw)
    except StaleDataError:
        # another request changed the record between our read and our write
        raise PreconditionFailed(
            "the record was changed by someone else: reload and retry"
        ) from None
    except Forbidden as exc:
        # a refused read or write is kept: who asked for what
        actor = getattr(request.state, "actor", None)
        if actor is not None:
            with db.transaction(write=True) as s:
                audit.denied(s, actor, f"{request.method} {request.url.path}", exc.message)
        raise
    except auth.CredentialsRefused:
        # a wrong password confirming an action (a signature, a password change) counts
        # toward the lock-out like a wrong login, in a transaction of its own
        with db.transaction(write=True) as s:
            auth.count_failed_attempt(s, current_actor(request, s))
        raise
    touch_if_due(request)
    actor = getattr(request.state, "actor", None)
    if actor is not None and actor.role == "researcher":
        # every researcher read is audited, in its own short write after the read
        what = f"{request.method} {request.url.path}"
        if request.url.query:
            what += f"?{request.url.query}"
        with db.transaction(write=True) as s:
            audit.researcher_read(s, actor, what)
    return result


async def offload(
    request: Request, fn: Callable[..., Any], *args: Any, writes: bool = False, **kw: Any
) -> Any:
    """Run blocking database work for an ``async`` route: inline on SQLite, whose transactions are
    short and local (the event loop runs them one after another with no thread hand-offs or GIL
    contention, which dominated the cost under load); on PostgreSQL on the event loop as well,
    through asyncpg (store.db.pg_loop_engine) in a greenlet (each network wait lets other requests
    run; ``RAAD_PG_THREADS=1`` keeps the thread pool instead). A SQLite write runs inline once it passes the writer gate, which other processes'
    short writes leave within a millisecond or so; if the gate stays taken for
    ``INLINE_WRITE_WAIT_S`` (a long write elsewhere, e.g. a bulk import), the write waits in the
    thread pool instead, so the event loop is never held up longer than that."""
    db = database(request)
    if db.loop_ready:
        # PostgreSQL: on the event loop too, with the loop's connections; the service
        # code runs unchanged in a greenlet and every network wait yields to the loop
        from sqlalchemy.util import greenlet_spawn

        from raad.store.db import on_event_loop

        def work() -> Any:
            with on_event_loop():
                return fn(*args, **kw)

        return await greenlet_spawn(work)
    if db.dialect != "sqlite":
        return await run_in_threadpool(fn, *args, **kw)
    if not writes:
        return fn(*args, **kw)
    if db.acquire_writer(timeout=INLINE_WRITE_WAIT_S):
        try:
            return fn(*args, **kw)
        finally:
            db.release_writer()
    return await run_in_threadpool(fn, *args, **kw)


async def arun(
    request: Request, fn: Callable[..., Any], *args: Any, write: bool = True, **kw: Any
) -> Any:
    """:func:`run` for ``async`` routes (see :func:`offload`)."""
    return await offload(request, run, request, fn, *args, write=write, writes=write, **kw)


async def aif_match(request: Request) -> IfMatch:
    return await offload(request, if_match, request)


async def aidempotent(
    request: Request,
    route: str,
    body: Any,
    action: Callable[[Any, Actor], dict[str, Any]],
    core_only: bool = False,
    location: str | None = None,
) -> JSONResponse:
    return await offload(
        request, idempotent, request, route, body, action, core_only, location, writes=True
    )


_ETAG = re.compile(r'^(W/)?("?)(\d+)\2$')


def if_match(request: Request) -> IfMatch:
    """The versions the client may change, from ``If-Match`` (required on updates): ``*``, or
    one or more entity tags; weak tags never match (RFC 9110 13.1.1, strong comparison)."""
    current_actor(request)  # authentication comes first: 401 before 428
    raw = request.headers.get("if-match")
    if raw is None:
        raise PreconditionRequired(
            "If-Match header required: send the ETag of the version you are changing"
        )
    if raw.strip() == "*":
        return IfMatch(None)
    strong: set[int] = set()
    weak: list[str] = []
    for token in (t.strip() for t in raw.split(",")):
        m = _ETAG.match(token)
        if not m or int(m.group(3)) >= 2**31:
            raise InvalidInput(
                "If-Match", raw, 'ETags such as "3" (the record version), a list of them, or *'
            )
        if m.group(1):
            weak.append(token)
        else:
            strong.add(int(m.group(3)))
    return IfMatch(frozenset(strong), tuple(weak))


def with_etag(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"ETag": f'"{body["version"]}"'})


def created(
    response: Any, status: int, location: str | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A creating POST's response: on 201, the new record's ``ETag`` (its version, what the
    first update's If-Match needs) and ``Location`` (``location`` with ``{id}`` filled)."""
    headers = dict(headers or {})
    if status == 201 and isinstance(response, dict):
        if isinstance(response.get("version"), int):
            headers["ETag"] = f'"{response["version"]}"'
        if location and response.get("id") is not None:
            headers["Location"] = location.format(id=response["id"])
    return JSONResponse(response, status_code=status, headers=headers)


def idempotent(
    request: Request,
    route: str,
    body: Any,
    action: Callable[[Any, Actor], dict[str, Any]],
    core_only: bool = False,
    location: str | None = None,
) -> JSONResponse:
    """Run a creating POST once per ``Idempotency-Key`` (replayed responses carry
    ``Idempotent-Replayed: true``). ``core_only``: the action runs only Core statements, so
    without a key it runs on a bare connection. ``location``: the new record's path with
    ``{id}`` (sent as ``Location``)."""
    from raad.services import idempotency

    key = request.headers.get("idempotency-key")
    if key is None and core_only:
        with database(request).core_transaction() as c:
            return created(action(c, current_actor(request, c)), 201, location)
    for attempt in range(2):
        try:
            with database(request).transaction() as s:
                actor = current_actor(request, s)
                status, response, replayed = idempotency.run(
                    s, actor, key, route, body, lambda s=s, actor=actor: action(s, actor)
                )
            break
        except IntegrityError:
            # a concurrent request with the same key committed first: replay its response
            if key is None or attempt == 1:
                raise
        except ServiceError:
            # a refusal the concurrent twin's commit may explain (its record failing this one's
            # checks before its key was seen): its response if it committed, else the refusal
            with database(request).transaction(write=False) as s:
                done = idempotency.replay(s, current_actor(request, s), key, route, body)
            if done is None:
                raise
            (status, response), replayed = done, True
            break
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return created(response, status, location, headers)


# what a transaction raises when a concurrent request with the same idempotency key (or form
# token) committed first: run it again and the first response is replayed
DuplicateKey = IntegrityError


def error_response(exc: ServiceError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def set_session_cookies(request: Request, response: Any, issued: Any) -> None:
    """The browser session: an HttpOnly session cookie and the CSRF cookie the page echoes in
    ``X-CSRF-Token`` on every change (double submit); SameSite=Strict, Secure over HTTPS."""
    from datetime import UTC, datetime

    secure = request.url.scheme == "https"
    max_age = int((issued.expires_at - datetime.now(UTC)).total_seconds())
    for name, value, httponly in (
        (SESSION_COOKIE, issued.token, True),
        (CSRF_COOKIE, issued.csrf or "", False),
    ):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=httponly,
            samesite="strict",
            secure=secure,
            path="/",
        )
