"""Cohort outcomes: response and remission rates by agent, regimen and instrument.

A course counts when its patient has at least two totals on the same instrument from the
course start on (the first is the baseline). Response and remission use the instrument's
default definitions (raad.scales.compare), so the rates carry the same sources.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raad.scales import compare, get
from raad.store.models import Assessment, Course, Patient

from . import deid
from .context import Actor


def outcomes(db: Session, actor: Actor) -> list[dict[str, Any]]:
    q = select(Course)
    if actor.role == "clinician":
        q = q.join(Patient, Patient.id == Course.patient_id).where(Patient.site_id == actor.site_id)
    groups: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"courses": 0, "response": 0, "remission": 0}
    )
    for c in db.scalars(q):
        start = datetime.combine(c.start_date, time.min, UTC)
        rows = db.scalars(
            select(Assessment)
            .where(
                Assessment.patient_id == c.patient_id,
                Assessment.total.is_not(None),
                Assessment.administered_at >= start - _baseline_window(),
            )
            .order_by(Assessment.administered_at, Assessment.id)
        ).all()
        by_instrument: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            by_instrument[r.instrument].append(r.total)
        for name, totals in by_instrument.items():
            if len(totals) < 2 or get(name).outcomes.response is None:
                continue
            cmp = compare(name, totals[0], totals[-1], history=totals[1:-1])
            g = groups[(c.agent, c.regimen, name)]
            g["courses"] += 1
            g["response"] += bool(cmp.response)
            g["remission"] += bool(cmp.remission)
            g["response_rule"] = cmp.calls["response"].rule if "response" in cmp.calls else None
            g["remission_rule"] = cmp.calls["remission"].rule if "remission" in cmp.calls else None
    out = []
    for (agent, regimen, instrument), g in sorted(groups.items()):
        n = g["courses"]
        out.append(
            {
                "agent": agent,
                "regimen": regimen,
                "instrument": instrument,
                **g,
                "response_rate": g["response"] / n,
                "remission_rate": g["remission"] / n,
            }
        )
    if not actor.identified_access:  # small cells would let a patient be picked out
        out = deid.small_cells(
            out, "courses", {"response": "response_rate", "remission": "remission_rate"}
        )
    return out


def _baseline_window():
    """Ratings up to a week before the course start count as its baseline."""
    from datetime import timedelta

    return timedelta(days=7)
