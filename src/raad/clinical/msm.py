"""Maudsley Staging Method (Fekadu et al.; BMC Psychiatry 2018, Table 3).

Five dimensions: duration of the current episode, symptom severity, number of failed
antidepressants, augmentation used, ECT used. Total 3-15, categories mild/moderate/severe.
All points and bands come from ``knowledge/staging.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raad.knowledge.staging import RangePoints, load_staging

from .errors import ClinicalInputError


@dataclass(frozen=True)
class MsmScore:
    total: int
    category: str
    points: dict[str, int]
    thresholds: dict[str, bool]  # each cited TRD threshold: is the total above it?
    sources: tuple[str, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _band(bands: tuple[RangePoints, ...], value: int, field: str) -> int:
    for b in bands:
        if value >= b.min and (b.max is None or value <= b.max):
            return b.points
    lo = min(b.min for b in bands)
    raise ClinicalInputError(field, value, f"an integer >= {lo}")


def msm_score(
    *,
    episode_months: float,
    severity: str,
    failed_antidepressants: int,
    augmentation: bool,
    ect: bool,
) -> MsmScore:
    """Score the MSM; ``episode_months`` counts completed months (see the staging data)."""
    msm = load_staging().msm
    if (
        isinstance(episode_months, bool)
        or not isinstance(episode_months, int | float)
        or episode_months < 0
    ):
        raise ClinicalInputError("episode_months", episode_months, "a number of months >= 0")
    if isinstance(failed_antidepressants, bool) or not isinstance(failed_antidepressants, int):
        raise ClinicalInputError(
            "failed_antidepressants", failed_antidepressants, "an integer >= 1"
        )
    sev = {s.label: s.points for s in msm.severity}
    if severity not in sev:
        raise ClinicalInputError("severity", severity, f"one of {', '.join(sev)}")
    for name, flag in (("augmentation", augmentation), ("ect", ect)):
        if not isinstance(flag, bool):
            raise ClinicalInputError(name, flag, "true or false")
    points = {
        "duration": _band(msm.duration_months.bands, int(episode_months), "episode_months"),
        "severity": sev[severity],
        "antidepressant_failures": _band(
            msm.antidepressant_failures, failed_antidepressants, "failed_antidepressants"
        ),
        "augmentation": msm.augmentation_points if augmentation else 0,
        "ect": msm.ect_points if ect else 0,
    }
    total = sum(points.values())
    category = next(c.label for c in msm.categories if c.min <= total <= c.max)
    return MsmScore(
        total=total,
        category=category,
        points=points,
        thresholds={t.name: total > t.above for t in msm.thresholds},
        sources=tuple(c.source for c in msm.cite),
        note=msm.duration_months.rounding,
    )
