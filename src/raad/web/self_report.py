"""The patient's side of self-report: the page a self-report link opens (``/r/{token}``), with
no login and nothing on it but the questionnaire, and where its answers are sent.

``GET /r/{token}``: the questionnaire, server-rendered HTML that works on a phone without
scripts. ``POST /r/{token}``: the form's answers, or a FHIR QuestionnaireResponse sent as JSON
(``application/json`` or ``application/fhir+json``) by a patient app; the JSON answer is
``{"stored", "suicide_flag", "crisis_text", "notice"}`` or raad's error body. A used, expired or
revoked link answers 410, an unknown one 404, each with a plain message.
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
from raad.services.errors import TooManyRequests

from .common import templates

router = APIRouter(include_in_schema=False)
_JSON = ("application/json", "application/fhir+json")
# the page is the patient's own: no caching by shared caches, no referrer carrying the token
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


async def _run(request: Request, fn: Any, *args: Any) -> Any:
    """``fn`` in a write transaction; a link that does not open (404, 410) counts toward the
    client's limit, and a client over it gets 429 before anything is looked up."""
    client = request.client.host if request.client else None
    if throttle.LINK_FAILURES.blocked(client):
        raise TooManyRequests(
            "Too many links that could not be opened from this address: wait a minute."
        )

    def work() -> Any:
        with database(request).transaction(write=True) as s:
            return fn(s, *args)

    try:
        return await run_in_threadpool(work)
    except ServiceError as exc:
        if exc.status in (404, 410):
            throttle.LINK_FAILURES.count(client)
        raise


def _page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, f"patient/{name}", ctx, status_code=status, headers=_HEADERS
    )


@router.get("/r/{token}", response_class=HTMLResponse)
async def open_link(request: Request, token: str) -> HTMLResponse:
    try:
        q = await _run(request, self_report.questionnaire, token)
    except ServiceError as exc:
        return _page(request, "closed.html", exc.status, message=exc.message)
    draft = {k: str(v) for k, v in q["draft"].items()}
    return _page(request, "questionnaire.html", q=q, token=token, answers=draft, error=None)


@router.post("/r/{token}")
async def answer(request: Request, token: str) -> Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in _JSON:
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict) or body.get("resourceType") != "QuestionnaireResponse":
                from raad.services.errors import InvalidInput

                raise InvalidInput(
                    "resourceType",
                    body.get("resourceType") if isinstance(body, dict) else None,
                    "QuestionnaireResponse",
                )
            out = await _run(request, self_report.submit, token, None, body)
        except json.JSONDecodeError:
            from raad.services.errors import InvalidInput

            return error_response(InvalidInput("body", None, "a JSON QuestionnaireResponse"))
        except ServiceError as exc:
            return error_response(exc)
        return JSONResponse(out, status_code=201, headers=_HEADERS)
    form = await request.form()
    answers = {k: v for k, v in form.items() if isinstance(v, str) and k != "action"}
    if form.get("action") == "save":  # save and finish later
        try:
            saved = await _run(request, self_report.save_draft, token, answers)
        except ServiceError as exc:
            return _page(request, "closed.html", exc.status, message=exc.message)
        return _page(request, "saved.html", saved=saved, token=token)
    try:
        out = await _run(request, self_report.submit, token, answers)
    except ServiceError as exc:
        if exc.status in (404, 410, 429):
            return _page(request, "closed.html", exc.status, message=exc.message)
        try:  # a partial or wrong submission: what was given is kept as a draft
            await _run(request, self_report.save_draft, token, answers)
            q = await _run(request, self_report.questionnaire, token)
        except ServiceError as again:
            return _page(request, "closed.html", again.status, message=again.message)
        return _page(
            request, "questionnaire.html", 422, q=q, token=token, answers=answers, error=exc
        )
    return _page(request, "thanks.html", out=out)
