"""Screening a stored patient for every agent, kept with the knowledge version used."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.clinical.screening import PatientFacts, screen
from raad.knowledge.treatment import knowledge_version
from raad.store.models import Screening

from . import audit, views
from .authz import can_read, can_write
from .context import Actor
from .patients import age_on, load


def screen_patient(
    db: Session, actor: Actor, patient_id: int, as_of: date | None = None
) -> dict[str, Any]:
    p = load(db, patient_id)
    can_write(actor, p.site_id)
    facts = PatientFacts.parse(
        {**p.facts, "age_years": age_on(p, as_of or date.today()), "sex": p.sex}
    )
    result = screen(facts, as_of=as_of or date.today()).to_dict()
    row = Screening(
        patient_id=p.id,
        knowledge_version=knowledge_version(),
        facts=facts.model_dump(mode="json", exclude_none=True),
        result=result,
        created_by=actor.user_id,
    )
    db.add(row)
    db.flush()
    view = views.screening(row)
    audit.record(
        db,
        actor,
        "create",
        "screening",
        row.id,
        patient_id=p.id,
        after={
            "knowledge_version": row.knowledge_version,
            "status": {k: v["status"] for k, v in result["agents"].items()},
        },
    )
    return view


def latest(db: Session, actor: Actor, patient_id: int) -> dict[str, Any] | None:
    p = load(db, patient_id)
    can_read(actor, p)
    row = db.scalar(
        select(Screening).where(Screening.patient_id == p.id).order_by(Screening.id.desc()).limit(1)
    )
    return views.screening(row) if row else None
