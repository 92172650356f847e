"""Living evidence in the app: each new version of the trial base is recorded once with its
pooled answers and what moved since the last (raad.evidence.living), and clinicians whose
site has courses of an agent the change touches see a notice.

``refresh`` runs when asked (``raad evidence living``) and at start-up of ``raad serve``; it
writes nothing when the trial base is the one last recorded. The notice shows for
``NOTICE_DAYS`` days after an update (raad's convention).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raad.evidence.living import compare_answers, pooled_answers, trial_base_version
from raad.knowledge.trials import trial_base
from raad.store.models import Course, EvidenceUpdate, Patient, utcnow

from .context import Actor

NOTICE_DAYS = 30


def _trials() -> list[dict[str, Any]]:
    return [t.model_dump(mode="json") for t in trial_base().trials]


def refresh(db: Session, trials: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """Record the trial base (``trials``: default the knowledge base's) if this version is
    new; return the new update (``as_dict``) or None when nothing changed."""
    trials = _trials() if trials is None else trials
    version = trial_base_version(trials)
    if db.scalar(select(EvidenceUpdate.id).where(EvidenceUpdate.trial_base_version == version)):
        return None
    last = db.scalars(select(EvidenceUpdate).order_by(EvidenceUpdate.id.desc()).limit(1)).first()
    answers = pooled_answers(trials)
    changes = compare_answers(last.answers if last else {}, answers)
    agents = sorted({c["key"].split("/")[0] for c in changes})
    row = EvidenceUpdate(
        trial_base_version=version, answers=answers, changes=changes, agents=agents
    )
    try:
        with db.begin_nested():
            db.add(row)
    except IntegrityError:  # another process recorded the same version first
        return None
    return as_dict(row, first=last is None)


def as_dict(row: EvidenceUpdate, first: bool = False) -> dict[str, Any]:
    return {
        "id": row.id,
        "trial_base_version": row.trial_base_version,
        "created_at": row.created_at.isoformat(),
        "first_version": first,
        "changes": row.changes,
        "agents": row.agents,
        "answers": row.answers,
    }


def history(db: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The recorded versions, newest first."""
    rows = db.scalars(select(EvidenceUpdate).order_by(EvidenceUpdate.id.desc()).limit(limit)).all()
    oldest = db.scalar(select(EvidenceUpdate.id).order_by(EvidenceUpdate.id).limit(1))
    return [as_dict(r, first=r.id == oldest) for r in rows]


def notices(db: Session, actor: Actor) -> list[dict[str, Any]]:
    """Updates of the last ``NOTICE_DAYS`` days (not the first recorded version) that touch an
    agent with courses at the clinician's site: what moved, for the notice."""
    if actor.role != "clinician" or actor.site_id is None:
        return []
    since = utcnow() - timedelta(days=NOTICE_DAYS)
    first = db.scalar(select(EvidenceUpdate.id).order_by(EvidenceUpdate.id).limit(1))
    rows = db.scalars(
        select(EvidenceUpdate)
        .where(EvidenceUpdate.created_at >= since, EvidenceUpdate.id != first)
        .order_by(EvidenceUpdate.id.desc())
    ).all()
    if not rows:
        return []
    used = set(
        db.scalars(
            select(Course.agent)
            .join(Patient, Patient.id == Course.patient_id)
            .where(Patient.site_id == actor.site_id)
            .distinct()
        ).all()
    )
    out = []
    for r in rows:
        touched = sorted(set(r.agents) & used)
        if touched and r.changes:
            out.append(
                {
                    "created_at": r.created_at.isoformat(),
                    "agents": touched,
                    "summary": [summary(c) for c in r.changes if c["key"].split("/")[0] in touched],
                }
            )
    return out


def summary(change: dict[str, Any]) -> str:
    """One line for a change, e.g. "n2o/depression/24h/50%: -4.05 -> -3.10 (k 2 -> 3); the
    CI now excludes no effect"."""
    key, kind = change["key"], change["change"]
    if kind == "added":
        a = change["after"]
        return f"{key}: new, {a['measure']} {a['estimate']:.2f} [{a['ci_lb']:.2f}, {a['ci_ub']:.2f}] (k {a['k']})"
    if kind == "removed":
        return f"{key}: no longer estimable"
    a, b = change["before"], change["after"]
    text = (
        f"{key}: {a['measure']} {a['estimate']:.2f} -> {b['estimate']:.2f} (k {a['k']} -> {b['k']})"
    )
    if "significance" in change:
        text += f"; {change['significance']}"
    return text
