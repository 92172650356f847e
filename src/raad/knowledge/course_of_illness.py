"""Typed loader for ``course_of_illness.yaml``: how long a remission must last to count, when
it becomes a recovery, and so whether a return of depression is a relapse or a recurrence."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, model_validator

from .sources import Citation, load_model


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CourseDefinition(_M):
    """One consensus set of course definitions.

    ``remission_min_days``: the least time the total must stay at or below the instrument's
    remission cut-off for a remission (None: one rating is enough). ``recovery_min_months``:
    the least time (calendar months from the onset of remission) a remission must last to be a
    recovery; a return of depression before that is a relapse, after it a recurrence.
    """

    name: str
    remission_min_days: int | None
    recovery_min_months: int
    remission: str
    recovery: str
    relapse: str
    recurrence: str
    cite: tuple[Citation, ...]

    @model_validator(mode="after")
    def _ordered(self) -> CourseDefinition:
        if self.remission_min_days is not None and not (
            0 <= self.remission_min_days < 28 * self.recovery_min_months
        ):
            raise ValueError(f"{self.name}: the remission period must be shorter than recovery")
        return self


class CourseOfIllness(_M):
    default: CourseDefinition
    alternatives: tuple[CourseDefinition, ...] = ()
    note: str

    def citations(self) -> list[Citation]:
        return [c for d in (self.default, *self.alternatives) for c in d.cite]


@cache
def load_course_of_illness() -> CourseOfIllness:
    """The course definitions, checked against ``sources.yaml``.

    Raises:
        KnowledgeError: the file does not match the model or cites an unknown source.
    """
    return load_model("course_of_illness.yaml", CourseOfIllness)
