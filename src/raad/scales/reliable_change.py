"""Reliable change (Jacobson & Truax 1991, J Consult Clin Psychol 59:12-19,
doi:10.1037/0022-006X.59.1.12) for a patient's change on a rating scale.

``RC = (score - baseline) / S_diff`` with ``S_diff = sqrt(2) * SD * sqrt(1 - r)``; the change
is reliable when ``|RC| > 1.96``, i.e. when it exceeds ``1.96 * S_diff`` points. SD and r per
instrument come from ``knowledge/reliable_change.yaml`` with their sources; on the depression
scales here lower is better, so a reliable fall is improvement and a reliable rise is
deterioration. An instrument without both inputs gives no threshold, with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from raad.knowledge.reliable_change import reliable_change_inputs

CRIT = 1.96


@dataclass(frozen=True)
class Threshold:
    instrument: str
    points: float | None  # 1.96 * S_diff; None when an input is missing
    s_diff: float | None
    reliability: float | None
    sd: float | None
    sources: tuple[str, ...]
    note: str
    other_criteria: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "points": self.points,
            "s_diff": self.s_diff,
            "reliability": self.reliability,
            "sd": self.sd,
            "sources": list(self.sources),
            "note": self.note,
            "other_criteria": list(self.other_criteria),
        }


def threshold(instrument: str) -> Threshold:
    """The reliable-change threshold of ``instrument`` (points), or why there is none."""
    entry = reliable_change_inputs().get(instrument)
    if entry is None:
        return Threshold(
            instrument, None, None, None, None, (), "no reliable change inputs for this scale"
        )
    others = tuple(
        {"points": o.points, "what": o.what, "sources": [c.source for c in o.cite]}
        for o in entry.other_criteria
    )
    if entry.reliability is None or entry.sd is None:
        return Threshold(
            instrument,
            None,
            None,
            entry.reliability.value if entry.reliability else None,
            entry.sd.value if entry.sd else None,
            tuple(c.source for c in (entry.reliability.cite if entry.reliability else ())),
            f"not computed: {entry.missing}",
            others,
        )
    r, sd = entry.reliability.value, entry.sd.value
    s_diff = math.sqrt(2) * sd * math.sqrt(1 - r)
    sources = tuple(dict.fromkeys(c.source for c in (*entry.reliability.cite, *entry.sd.cite)))
    return Threshold(
        instrument,
        CRIT * s_diff,
        s_diff,
        r,
        sd,
        ("jacobson-truax-1991", *sources),
        f"alpha {r:g} and SD {sd:g} ({entry.sd.sample})",
        others,
    )


def classify(instrument: str, baseline: float, score: float) -> dict[str, Any]:
    """The change from ``baseline`` to ``score``: its RC value and "reliable improvement",
    "reliable deterioration", "no reliable change" or "unknown" (no threshold)."""
    t = threshold(instrument)
    change = score - baseline
    if t.s_diff is None:
        return {"change": change, "rc": None, "status": "unknown", "threshold": t.to_dict()}
    rc = change / t.s_diff
    status = (
        "reliable improvement"
        if rc < -CRIT
        else "reliable deterioration"
        if rc > CRIT
        else "no reliable change"
    )
    return {"change": change, "rc": rc, "status": status, "threshold": t.to_dict()}
