"""Records as JSON-ready dicts; identified views only where the caller may see identifiers."""

from __future__ import annotations

from typing import Any

from raad.store.models import (
    Administration,
    Alert,
    AntidepressantTrial,
    Assessment,
    Course,
    Patient,
    Screening,
)

_RECORD_KEYS = ("fact_sources", "fact_dates", "fact_notes", "unread")
_ENTRY_KEYS = ("text", "system", "code", "codings", "status", "active")


def deidentified_facts(facts: dict[str, Any] | None) -> dict[str, Any]:
    """Screening facts without what links them to a record or a day: no sources, resource ids,
    dates or notes (which carry dates), entries reduced to their text, codes and status."""
    out = {k: v for k, v in (facts or {}).items() if k not in _RECORD_KEYS}
    for key in ("conditions", "medications", "allergies"):
        if isinstance(out.get(key), list):
            out[key] = [
                {k: v for k, v in e.items() if k in _ENTRY_KEYS} if isinstance(e, dict) else e
                for e in out[key]
            ]
    return out


def patient(p: Patient, *, identified: bool, site_code: str | None = None) -> dict[str, Any]:
    """``site_code`` saves loading the site when the caller has it (a Core row); the
    de-identified view carries facts without sources, resource ids or dates."""
    out: dict[str, Any] = {
        "research_id": p.research_id,
        "site": site_code if site_code is not None else p.site.code,
        "sex": p.sex,
        "birth_year": p.birth_year,
        "facts": p.facts if identified else deidentified_facts(p.facts),
        "version": p.version,
    }
    if identified:
        i = p.identity
        out = {
            "id": p.id,
            **out,
            "identity": {
                "given_name": i.given_name,
                "family_name": i.family_name,
                "mrn": i.mrn,
                "birth_date": i.birth_date.isoformat() if i.birth_date else None,
            },
            "created_at": p.created_at.isoformat(),
            "updated_at": p.updated_at.isoformat(),
        }
    return out


def trial(t: AntidepressantTrial) -> dict[str, Any]:
    return {
        "id": t.id,
        "drug": t.drug,
        "atc": t.atc,
        "weeks": t.weeks,
        "adequate_dose": t.adequate_dose,
        "improvement_percent": t.improvement_percent,
        "outcome": t.outcome,
        "current_episode": t.current_episode,
    }


def screening(s: Screening) -> dict[str, Any]:
    return {
        "id": s.id,
        "knowledge_version": s.knowledge_version,
        "created_at": s.created_at.isoformat(),
        **s.result,
    }


def override(reason: str | None, detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """A contraindication overridden on a course or session: the reason given and what screening
    said (agent, contraindications with their sources, day and knowledge version)."""
    if reason is None:
        return None
    return {"reason": reason, **(detail or {})}


def course(c: Course) -> dict[str, Any]:
    return {
        "id": c.id,
        "regimen": c.regimen,
        "agent": c.agent,
        "start": c.start_date.isoformat(),
        "status": c.status,
        "locked_at": c.locked_at.isoformat() if c.locked_at else None,
        "locked_by": c.locked_by,
        "version": c.version,
        "knowledge_version": c.knowledge_version,
        "override": override(c.override_reason, c.override_detail),
        "plan": c.plan,
    }


def _bp(s: float | None, d: float | None) -> dict[str, float] | None:
    return None if s is None or d is None else {"systolic": s, "diastolic": d}


def administration(a: Administration) -> dict[str, Any]:
    return {
        "id": a.id,
        "course_id": a.course_id,
        "agent": a.agent,
        "route": a.route,
        "n2o_fraction": a.n2o_fraction,
        "dose_mg": a.dose_mg,
        "dose_mg_per_kg": a.dose_mg_per_kg,
        "start": a.start.isoformat(),
        "duration_min": a.duration_min,
        "bp_pre": _bp(a.bp_pre_systolic, a.bp_pre_diastolic),
        "bp_post": _bp(a.bp_post_systolic, a.bp_post_diastolic),
        "bp_post_min": a.bp_post_min,
        "observation_min": a.observation_min,
        "adverse_events": a.adverse_events,
        "unresolved": a.unresolved,
        "cadss_total": a.cadss_total,
        "notes": a.notes,
        "vitals": list(a.vitals or []),
        "lot_numbers": list(a.lot_numbers or []),
        "concomitant": a.concomitant,
        "checklist": a.checklist,
        "observed_by": a.observed_by,
        "ready_to_leave_at": a.ready_to_leave_at.isoformat() if a.ready_to_leave_at else None,
        "rems_submitted_at": a.rems_submitted_at.isoformat() if a.rems_submitted_at else None,
        "discharged_at": a.discharged_at.isoformat() if a.discharged_at else None,
        "discharged_by": a.discharged_by,
        "override": override(a.override_reason, a.override_detail),
        "version": a.version,
    }


def assessment(a: Assessment) -> dict[str, Any]:
    return {
        "id": a.id,
        "instrument": a.instrument,
        "administered_at": a.administered_at.isoformat(),
        "administration_id": a.administration_id,
        "responses": a.responses,
        "total": a.total,
        "severity": a.severity,
        "suicide_flag": a.suicide_flag,
        "source": getattr(a, "source", None) or "clinician",
    }


def alert(a: Alert, usernames: dict[int, str] | None = None) -> dict[str, Any]:
    """``usernames`` (user id -> name), when the caller has them, names who acknowledged."""
    by = a.acknowledged_by
    return {
        "id": a.id,
        "administration_id": a.administration_id,
        "assessment_id": a.assessment_id,
        "code": a.code,
        "level": a.level,
        "message": a.message,
        "facts": a.facts,
        "sources": a.sources,
        "blocks_discharge": a.blocks_discharge,
        "raised_at": a.raised_at.isoformat(),
        "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
        "acknowledged_by": by,
        "acknowledged_by_username": (usernames or {}).get(by) if by is not None else None,
        "acknowledgement_note": a.acknowledgement_note,
        "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None,
    }
