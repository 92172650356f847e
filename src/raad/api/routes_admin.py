"""Health, users and the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import text

from raad.knowledge.treatment import knowledge_version
from raad.services import audit, auth
from raad.services.schemas import UserIn, UserUpdate

from .deps import current_actor, database, run

router = APIRouter(tags=["admin"])


@router.get("/health", summary="Liveness and database check (no authentication)")
def health(request: Request) -> dict[str, Any]:
    db = database(request)
    with db.transaction(write=False) as s:
        s.execute(text("SELECT 1"))
        revision = s.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return {
        "status": "ok",
        "database": db.dialect,
        "schema_revision": revision,
        "knowledge_version": knowledge_version(),
    }


@router.get("/ping", summary="No-op (no database, no authentication): the load bench's baseline")
def ping() -> dict[str, bool]:
    return {"ok": True}


@router.post("/users", status_code=201, summary="Create a user (admin)")
def create_user(request: Request, body: UserIn) -> dict[str, Any]:
    actor = current_actor(request)
    with database(request).transaction() as s:
        u = auth.create_user(s, body.username, body.password, body.role, body.site, actor=actor)
        return {"id": u.id, "username": u.username, "role": u.role, "site_id": u.site_id}


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
    )


@router.get("/audit", summary="The audit trail (admin)")
def list_audit(
    request: Request,
    patient_id: int | None = None,
    entity: str | None = None,
    action: str | None = None,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    return run(
        request,
        audit.list_events,
        patient_id=patient_id,
        entity=entity,
        action=action,
        limit=limit,
        offset=offset,
        write=False,
    )
