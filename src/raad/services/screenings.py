"""Screening a stored patient for every agent, kept with the knowledge version used; screening
computed at the moment a course is planned or a session recorded, and the override it asks
for when the agent is contraindicated."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from raad.clinical.errors import ClinicalInputError
from raad.clinical.screening import PatientFacts, Screening, screen
from raad.knowledge.treatment import knowledge_version
from raad.store.core import Executor, table
from raad.store.models import Patient, PatientIdentity
from raad.store.models import Screening as ScreeningRow

from . import audit, deid, views
from .authz import can_read, can_write
from .context import Actor
from .errors import InvalidInput
from .patients import age_on, load

_PAT, _ID = table(Patient), table(PatientIdentity)
_FACTS = (
    select(_PAT.c.facts, _PAT.c.sex, _ID.c.birth_date)
    .outerjoin(_ID, _ID.c.patient_id == _PAT.c.id)
    .where(_PAT.c.id == bindparam("patient_id"))
)


def _warm() -> None:
    """Build the screening's knowledge indexes now, in the importing thread. They are built on
    first use and keyed by object identity; server threads that raced to build them could each
    keep a different copy (a KeyError on every later screening in that process). Courses and
    sessions screen on every write, so the first writes of a fresh worker run concurrently."""
    screen(PatientFacts(), as_of=date.today())


_warm()


def _age(birth_date: date | None, day: date) -> int | None:
    if birth_date is None:
        return None
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def facts_now(
    facts: dict[str, Any], sex: str | None, birth_date: date | None, as_of: date
) -> PatientFacts:
    """The facts screening reads: the stored facts with the age on ``as_of`` and the sex."""
    try:
        return PatientFacts.parse({**facts, "age_years": _age(birth_date, as_of), "sex": sex})
    except ClinicalInputError as exc:
        raise InvalidInput(f"facts.{exc.field}", exc.value, exc.allowed) from None


def screen_now(
    db: Executor, patient_id: int, as_of: date | None = None, facts: Any = None
) -> Screening:
    """Screen the patient from their current facts (Core statements; nothing is stored).
    ``facts``: the patient's ``facts``, ``sex`` and ``birth_date`` when the caller has just
    read them in this transaction (a row with those attributes); otherwise they are read."""
    day = as_of or date.today()
    row = facts if facts is not None else db.execute(_FACTS, {"patient_id": patient_id}).one()
    return screen(facts_now(row.facts, row.sex, row.birth_date, day), as_of=day)


def contraindications(result: Screening, agent: str) -> list[dict[str, Any]]:
    """The reasons ``result`` gives for ``agent`` being contraindicated ([] when it is not)."""
    a = result.agents.get(agent)
    if a is None or a.status != "contraindicated":
        return []
    reasons = [r for r in a.reasons if r.level == "contraindicated"] or list(a.reasons)
    return [r.to_dict() for r in reasons]


def _describe(reasons: list[dict[str, Any]]) -> str:
    return "; ".join(
        r["text"]
        + (f" (facts: {', '.join(r['facts'])})" if r["facts"] else "")
        + (f" [{', '.join(r['sources'])}]" if r["sources"] else "")
        for r in reasons
    )


def check_override(
    db: Executor, patient_id: int, agent: str, override_reason: str | None, facts: Any = None
) -> dict[str, Any] | None:
    """Screen now; when ``agent`` is contraindicated, an ``override_reason`` is required (422
    naming it, with the contraindications and their sources) and the override to store is
    returned; when it is not, an override reason is refused (there is nothing to override).
    ``facts`` as in :func:`screen_now`."""
    day = date.today()
    result = screen_now(db, patient_id, day, facts)
    reasons = contraindications(result, agent)
    reason = (override_reason or "").strip()
    if not reasons:
        if override_reason is not None and reason:
            status = result.agents[agent].status if agent in result.agents else "not screened"
            raise InvalidInput(
                "override_reason",
                override_reason,
                f"omitted: {agent} is not contraindicated for this patient (screening now: "
                f"{status}), so there is nothing to override",
            )
        return None
    if not reason:
        exc = InvalidInput(
            "override_reason",
            override_reason,
            f"a reason for giving {agent} although the patient's screening says it is "
            f"contraindicated: {_describe(reasons)}",
        )
        exc.detail["agent"] = agent
        exc.detail["contraindications"] = reasons
        raise exc
    return {
        "agent": agent,
        "contraindications": reasons,
        "screened_on": day.isoformat(),
        "knowledge_version": result.knowledge_version,
    }


def contraindicated_now(
    db: Session, actor: Actor, patient_id: int, as_of: date | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per contraindicated agent, the reasons screening gives now (for forms that ask for an
    override)."""
    p = load(db, patient_id)
    can_read(actor, p)
    result = screen_now(db, patient_id, as_of)
    out = {a: r for a in result.agents if (r := contraindications(result, a))}
    return deid.view(actor, out, p.date_shift_days)


def open_items(
    db: Session, actor: Actor, patient_id: int, agent: str, as_of: date | None = None
) -> dict[str, Any]:
    """What screening says now about ``agent`` short of a contraindication: its status, the
    cautions (with sources) and the facts still missing, for the forms that plan and record a
    session (a missing pregnancy status is shown where the dose is given, not only on the
    screening page)."""
    p = load(db, patient_id)
    can_read(actor, p)
    a = screen_now(db, patient_id, as_of).agents[agent]
    out = {
        "agent": agent,
        "status": a.status,
        "cautions": [r.to_dict() for r in a.reasons if r.level == "caution"],
        "missing": list(a.missing),
    }
    return deid.view(actor, out, p.date_shift_days)


def screen_patient(
    db: Session, actor: Actor, patient_id: int, as_of: date | None = None
) -> dict[str, Any]:
    p = load(db, patient_id)
    can_write(actor, p.site_id)
    facts = PatientFacts.parse(
        {**p.facts, "age_years": age_on(p, as_of or date.today()), "sex": p.sex}
    )
    result = screen(facts, as_of=as_of or date.today()).to_dict()
    row = ScreeningRow(
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
    return {**view, "stale": False, "stale_reason": None}


def _staleness(p: Patient, row: ScreeningRow) -> str | None:
    """Why a stored screening no longer reflects what screening would say now, or None."""
    reasons = []
    birth = p.identity.birth_date if p.identity else None
    try:
        current = facts_now(p.facts, p.sex, birth, date.today()).model_dump(
            mode="json", exclude_none=True
        )
    except InvalidInput as exc:
        current = None
        reasons.append(f"the patient's current facts cannot be read: {exc.message}")
    if current is not None:
        changed = sorted(
            k for k in set(current) | set(row.facts) if current.get(k) != row.facts.get(k)
        )
        if changed:
            reasons.append(
                "the patient's facts changed since this screening (" + ", ".join(changed) + ")"
            )
    if row.knowledge_version != knowledge_version():
        reasons.append(
            f"screened with knowledge version {row.knowledge_version}; the rules are now at "
            f"{knowledge_version()}"
        )
    return "; ".join(reasons) + "; screen again" if reasons else None


def latest(db: Session, actor: Actor, patient_id: int) -> dict[str, Any] | None:
    """The latest stored screening, marked ``stale`` (with ``stale_reason``) when the patient's
    facts or the rules changed since."""
    p = load(db, patient_id)
    can_read(actor, p)
    row = db.scalar(
        select(ScreeningRow)
        .where(ScreeningRow.patient_id == p.id)
        .order_by(ScreeningRow.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    why = _staleness(p, row)
    out = {**views.screening(row), "stale": why is not None, "stale_reason": why}
    return deid.view(actor, out, p.date_shift_days)
