"""The patient's side of self-report: the page a self-report link opens (``/r/{token}``), with
no login and nothing on it but the questionnaire, and where its answers are sent.

``GET /r/{token}``: the questionnaire, server-rendered HTML that works on a phone without
scripts. ``POST /r/{token}``: the form's answers (``action=send``, or ``action=save`` to finish
later), or a FHIR QuestionnaireResponse sent as JSON (``application/json`` or
``application/fhir+json``) by a patient app; the JSON answer is ``{"stored", "suicide_flag",
"crisis_text", "notice", "disagreements"}`` or raad's error body. A used, expired or withdrawn
link answers 410, an unknown one 404, a link not due yet 409, each with a plain sentence and
the crisis resources. Answers that cannot be stored (incomplete, or sent to a link that has
just closed) still raise the critical alert when a suicide item is positive.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from raad.api import throttle
from raad.api.deps import database, error_response
from raad.services import ServiceError, self_report
from raad.services.errors import InvalidInput, NotFound, TooManyRequests

from .common import templates

router = APIRouter(include_in_schema=False)
_JSON = ("application/json", "application/fhir+json")
# the page is the patient's own: no caching by shared caches, no referrer carrying the token
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


async def _run(request: Request, fn: Any, *args: Any) -> Any:
    """``fn`` in a write transaction. An unknown token counts toward the client's limit of
    failed lookups; over it, unknown tokens answer 429 (a valid link still works: patients
    behind one shared address are not locked out by someone else's typos)."""
    client = request.client.host if request.client else None

    def work() -> Any:
        with database(request).transaction(write=True) as s:
            return fn(s, *args)

    try:
        return await run_in_threadpool(work)
    except NotFound:

        def counted() -> bool:
            db = database(request)
            blocked = throttle.LINK_FAILURES.blocked(db, client)
            throttle.LINK_FAILURES.count(db, client)
            return blocked

        blocked = await run_in_threadpool(counted)
        if blocked:
            raise TooManyRequests(
                "Too many links that could not be opened from this address: wait a minute."
            ) from None
        raise


def _page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, f"patient/{name}", ctx, status_code=status, headers=_HEADERS
    )


async def _closed(request: Request, token: str, exc: ServiceError, **ctx: Any) -> HTMLResponse:
    crisis = await _run(request, self_report.crisis_for, token)
    return _page(request, "closed.html", exc.status, message=exc.message, crisis=crisis, **ctx)


@router.get("/r/{token}", response_class=HTMLResponse)
async def open_link(request: Request, token: str) -> HTMLResponse:
    try:
        q = await _run(request, self_report.questionnaire, token)
    except ServiceError as exc:
        return await _closed(request, token, exc)
    draft = {k: str(v) for k, v in q["draft"].items()}
    return _page(request, "questionnaire.html", q=q, token=token, answers=draft, error=None)


async def _fhir(request: Request, token: str) -> Response:
    try:
        await _run(request, self_report.check, token)  # the token first, then the body
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidInput("body", None, "a JSON QuestionnaireResponse") from None
        if not isinstance(body, dict) or body.get("resourceType") != "QuestionnaireResponse":
            raise InvalidInput(
                "resourceType",
                body.get("resourceType") if isinstance(body, dict) else None,
                "QuestionnaireResponse",
            )
        out = await _run(request, self_report.submit, token, None, body)
    except ServiceError as exc:
        return error_response(exc)
    return JSONResponse(out, status_code=201, headers=_HEADERS)


@router.post("/r/{token}")
async def answer(request: Request, token: str) -> Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in _JSON:
        return await _fhir(request, token)
    try:
        form = await request.form()
    except Exception:  # a form the parser refuses (too many fields, not a form at all)
        exc = ServiceError(
            "Your answers could not be read. Please open the link again and answer the "
            "questions on the page."
        )
        return await _closed(request, token, exc)
    answers: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key == "action" or not isinstance(value, str):
            continue
        answers[key] = [answers[key], value] if key in answers else value
    if form.get("action") == "save":  # save and finish later
        try:
            saved = await _run(
                request, self_report.save_draft, token, answers, "saved to finish later"
            )
        except ServiceError as exc:
            return await _closed(request, token, exc)
        return _page(request, "saved.html", saved=saved, token=token)
    try:
        out = await _run(request, self_report.submit, token, answers)
    except ServiceError as exc:
        if exc.status in (404, 409, 410, 429):
            late = exc.status == 410 and await _run(
                request, self_report.late_signal, token, answers
            )
            return await _closed(request, token, exc, late=late)
        try:  # a partial or wrong submission: what was given is kept as a draft
            saved = await _run(request, self_report.save_draft, token, answers, "sent incomplete")
            q = await _run(request, self_report.questionnaire, token)
        except ServiceError as again:
            return await _closed(request, token, again)
        shown = {k: v for k, v in answers.items() if isinstance(v, str)}
        return _page(
            request,
            "questionnaire.html",
            422,
            q=q,
            token=token,
            answers=shown,
            error=exc,
            flagged=saved["suicide_flag"],
        )
    return _page(request, "thanks.html", out=out)
