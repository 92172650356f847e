"""Consent documents of a site and patients' signed consents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from raad.services import consent
from raad.services.schemas import SignatureIn

from .deps import arun

router = APIRouter(tags=["consent"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentDocumentIn(_In):
    agent: str = Field(max_length=16)
    title: str = Field(max_length=200)
    body: str = Field(
        max_length=50_000, description="The document's text; blank lines part paragraphs"
    )
    site: str | None = Field(default=None, max_length=32, description="Admins name the site")


class ConsentIn(_In):
    document_id: int = Field(ge=1, le=2**31 - 1)
    patient_name: str = Field(max_length=200, description="The patient's name as they gave it")
    signature: SignatureIn | None = Field(
        default=None, description="Required: the clinician who obtained consent signs"
    )


class WithdrawIn(_In):
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/consent-documents", summary="The site's consent documents (every version)")
async def list_documents(
    request: Request,
    site: str | None = Query(None, max_length=32),
    agent: str | None = Query(None, max_length=16),
) -> list[dict[str, Any]]:
    return await arun(request, consent.documents, site, agent, write=False)


@router.post(
    "/consent-documents",
    status_code=201,
    summary="A new version of the site's consent document for an agent",
)
async def add_document(request: Request, body: ConsentDocumentIn) -> dict[str, Any]:
    return await arun(request, consent.add_document, body.agent, body.title, body.body, body.site)


@router.get("/patients/{patient_id}/consents", summary="A patient's consents")
async def list_consents(request: Request, patient_id: int) -> list[dict[str, Any]]:
    return await arun(request, consent.for_patient, patient_id, write=False)


@router.post(
    "/patients/{patient_id}/consents",
    status_code=201,
    summary="Record a patient's consent, signed by the clinician who obtained it",
)
async def sign_consent(request: Request, patient_id: int, body: ConsentIn) -> dict[str, Any]:
    return await arun(
        request, consent.sign, patient_id, body.document_id, body.patient_name, body.signature
    )


@router.get("/consents/{consent_id}.pdf", summary="The consent as signed (PDF)")
async def consent_pdf(request: Request, consent_id: int) -> Response:
    pdf = await arun(request, consent.pdf, consent_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="consent-{consent_id}.pdf"'},
    )


@router.post("/consents/{consent_id}/withdraw", summary="The patient withdrew the consent")
async def withdraw(request: Request, consent_id: int, body: WithdrawIn) -> dict[str, Any]:
    return await arun(request, consent.withdraw, consent_id, body.reason)
