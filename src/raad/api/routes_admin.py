"""Health, users and the audit trail."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import text
from sqlalchemy.engine import make_url

from raad.knowledge.treatment import knowledge_version
from raad.services import audit, auth
from raad.services.schemas import UserIn, UserUpdate
from raad.store.probe import write_problem

from .deps import current_actor, database, run

router = APIRouter(tags=["admin"])


MIN_FREE_BYTES = int(os.environ.get("RAAD_MIN_FREE_BYTES", 100 * 1024 * 1024))


@router.get("/health", summary="Liveness, database writability and disk space (no authentication)")
def health(request: Request) -> JSONResponse:
    """``status`` "ok", or "degraded" with HTTP 503 and the reasons when the database cannot be
    written (read-only, locked past the busy timeout, a standby) or the disk holding a SQLite
    database has less than ``RAAD_MIN_FREE_BYTES`` (100 MiB) free."""
    db = database(request)
    problems: list[str] = []
    with db.transaction(write=False) as s:
        s.execute(text("SELECT 1"))
        revision = s.execute(text("SELECT version_num FROM alembic_version")).scalar()
    problem = write_problem(db)
    writable = problem is None
    if problem:
        problems.append(problem)
    free = None
    path = make_url(db.url).database if db.dialect == "sqlite" else None
    if path and path != ":memory:":
        free = shutil.disk_usage(Path(path).resolve().parent).free
        if free < MIN_FREE_BYTES:
            problems.append(f"disk nearly full: {free} bytes free, below {MIN_FREE_BYTES}")
    body = {
        "status": "degraded" if problems else "ok",
        "database": db.dialect,
        "schema_revision": revision,
        "knowledge_version": knowledge_version(),
        "writable": writable,
        "disk_free_bytes": free,
        "problems": problems,
    }
    return JSONResponse(body, status_code=503 if problems else 200)


@router.get("/ping", summary="No-op (no database, no authentication): the load bench's baseline")
def ping() -> dict[str, bool]:
    return {"ok": True}


@router.post("/users", status_code=201, summary="Create a user (admin)")
def create_user(request: Request, body: UserIn) -> dict[str, Any]:
    actor = current_actor(request)
    with database(request).transaction() as s:
        u = auth.create_user(
            s,
            body.username,
            body.password,
            body.role,
            body.site,
            actor=actor,
            full_name=body.full_name,
        )
        return {
            "id": u.id,
            "username": u.username,
            "full_name": u.full_name,
            "role": u.role,
            "site_id": u.site_id,
        }


@router.get("/users", summary="Every user with role, site and state (admin)")
def list_users(request: Request) -> list[dict[str, Any]]:
    return run(request, auth.list_users, write=False)


@router.patch(
    "/users/{username}", summary="Disable, enable, unlock, re-role or set a password (admin)"
)
def update_user(request: Request, username: str, body: UserUpdate) -> dict[str, Any]:
    return run(
        request,
        auth.update_user,
        username,
        active=body.active,
        role=body.role,
        site_code=body.site,
        unlock=body.unlock,
        password=body.password,
        full_name=body.full_name,
    )


class SiteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time_zone: str | None = Field(
        default=None, max_length=64, description="IANA time zone, e.g. Europe/London"
    )
    self_report: StrictBool | None = Field(
        default=None, description="patients may be sent questionnaires to answer from home"
    )
    crisis_text: str | None = Field(
        default=None,
        max_length=2000,
        description="crisis resources shown to a patient after a positive suicide item "
        "(required while self_report is on)",
    )
    monitored_in_real_time: StrictBool | None = Field(
        default=None, description="whether anyone reads self-reported answers as they arrive"
    )


@router.patch(
    "/sites/{code}",
    summary="A site's settings (admin): time zone, self-report from home, crisis resources",
)
def update_site(request: Request, code: str, body: SiteUpdate) -> dict[str, Any]:
    return run(request, auth.update_site, code, body.model_dump(exclude_unset=True))


@router.get(
    "/audit", summary="The audit trail, or one record's (admin; the read is itself recorded)"
)
def list_audit(
    request: Request,
    patient_id: int | None = None,
    entity: str | None = Query(None, max_length=32),
    entity_id: str | None = Query(None, max_length=64, description="with entity: one record"),
    action: str | None = Query(None, max_length=16),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    return run(
        request,
        audit.list_events,
        patient_id=patient_id,
        entity=entity,
        entity_id=entity_id,
        action=action,
        limit=limit,
        offset=offset,
    )
