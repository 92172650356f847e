"""Consent on the web: the site's consent documents (add a new version), and signing or
withdrawing a patient's consent from the patient page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from raad.services import ServiceError, consent

from .common import call, error_page, form_signature, form_text, reload_or_error, render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/consent-documents", response_class=HTMLResponse)
async def documents_page(request: Request, site: str | None = None) -> HTMLResponse:
    try:
        docs = await call(request, consent.documents, site, write=False)
    except ServiceError as exc:
        return error_page(request, exc)
    return render(request, "consent_documents.html", documents=docs, site=site or "")


@router.post("/consent-documents", response_class=HTMLResponse)
async def add_document(request: Request) -> Response:
    form = await request.form()
    return await reload_or_error(
        request,
        lambda: (
            consent.add_document,
            form_text(form, "agent"),
            form_text(form, "title"),
            form_text(form, "body"),
            form_text(form, "site") or None,
        ),
    )


@router.post("/patients/{pid}/consents", response_class=HTMLResponse)
async def sign(request: Request, pid: int) -> Response:
    form = await request.form()

    def build():
        raw = form_text(form, "document_id")
        from raad.services.errors import InvalidInput

        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**31:
            raise InvalidInput("document_id", raw, "a consent document of this site")
        return (
            consent.sign,
            pid,
            int(raw),
            form_text(form, "patient_name"),
            form_signature(form),
        )

    return await reload_or_error(request, build)


@router.post("/consents/{consent_id}/withdraw", response_class=HTMLResponse)
async def withdraw(request: Request, consent_id: int) -> Response:
    form = await request.form()
    return await reload_or_error(
        request, lambda: (consent.withdraw, consent_id, form_text(form, "reason"))
    )
