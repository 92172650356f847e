"""TRD status from the antidepressant history (``knowledge/staging.yaml``).

Definition (Gaynes et al. 2020; NCT01920555): at least two failed, adequate antidepressant
trials of different mechanisms in the current episode; failure is less than 50% improvement.
Adequacy: at least six weeks (MGH-S; alternative four weeks, KIM/ATHF) at a dose the clinician
records as adequate (no drug-by-drug dose table was found). Mechanism: the WHO ATC level-4
group of N06A (each N06AX substance is its own group). A trial whose facts are unknown is
never counted as adequate or failed: the result is 'indeterminate' when such trials could
change it, and the missing facts are listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raad.knowledge.staging import load_staging
from raad.knowledge.treatment import antidepressants, monitoring

from .errors import ClinicalInputError


class Trial(BaseModel):
    """One antidepressant trial as recorded (unknown = None)."""

    model_config = ConfigDict(extra="forbid")

    drug: str | None = None
    atc: str | None = Field(default=None, pattern=r"^N06A[A-Z]\d\d$")
    weeks: float | None = None
    adequate_dose: bool | None = None
    improvement_percent: float | None = None
    outcome: Literal["response", "non-response", "intolerance"] | None = None
    current_episode: bool | None = None


@dataclass(frozen=True)
class TrdStatus:
    status: Literal["TRD", "not TRD", "indeterminate"]
    failed_adequate: tuple[str, ...]
    mechanism_groups: tuple[str, ...]
    possible: tuple[str, ...]
    missing: tuple[str, ...]
    definition: str
    adequacy: str
    sources: tuple[str, ...]
    alternatives: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _group(trial: Trial) -> str | None:
    atc = trial.atc
    if atc is None and trial.drug:
        known = {s.name: s.atc for s in antidepressants().substances}
        atc = known.get(trial.drug.strip().lower())
    if atc is None:
        return None
    return atc if atc.startswith("N06AX") else atc[: len("N06AB")]  # ATC level 4


def _label(i: int, t: Trial) -> str:
    return f"trial {i + 1} ({t.drug or t.atc or 'unnamed'})"


def trd_status(
    history: list[Trial | dict[str, Any]], *, min_weeks: float | None = None
) -> TrdStatus:
    """TRD status of a history of trials (see the module docstring)."""
    trials = []
    for i, t in enumerate(history):
        try:
            trials.append(t if isinstance(t, Trial) else Trial.model_validate(t))
        except ValidationError as exc:
            err = exc.errors()[0]
            path = ".".join(str(p) for p in err["loc"])
            raise ClinicalInputError(f"history.{i}.{path}", err.get("input"), err["msg"]) from None
        limits = monitoring().plausible_ranges
        for name, bounds in (
            ("weeks", limits.trial_weeks),
            ("improvement_percent", limits.improvement_percent),
        ):
            value = getattr(trials[-1], name)
            if value is not None and not bounds[0] <= value <= bounds[1]:
                raise ClinicalInputError(
                    f"history.{i}.{name}", value, f"{bounds[0]:g}-{bounds[1]:g}"
                )
    st = load_staging().trd
    d = st.definition
    weeks_needed = st.adequacy.default.min_weeks if min_weeks is None else min_weeks
    failed: dict[str, str] = {}
    possible: dict[str, str] = {}
    missing: list[str] = []
    for i, t in enumerate(trials):
        label = _label(i, t)
        checks = {
            "current episode": t.current_episode,
            f"at least {weeks_needed:g} weeks": None
            if t.weeks is None
            else t.weeks >= weeks_needed,
            "adequate dose": t.adequate_dose,
            "failed (< 50% improvement)": _failed(t, d.failure_below_percent_improvement),
        }
        group = _group(t)
        if any(v is False for v in checks.values()):
            continue
        unknown = [k for k, v in checks.items() if v is None]
        if group is None:
            unknown.append("mechanism (give the ATC code)")
        if unknown:
            missing.append(f"{label}: {', '.join(unknown)}")
            possible.setdefault(group or f"unknown-{i}", label)
        else:
            failed.setdefault(group, label)
    groups = tuple(failed)
    if not trials:
        # nothing recorded is not "no failed trials": the history has not been taken
        missing.append("no antidepressant trial recorded: take the treatment history")
    if len(groups) >= d.distinct_mechanisms:
        status = "TRD"
    elif not trials or len(groups) + len(set(possible) - set(groups)) >= d.distinct_mechanisms:
        status = "indeterminate"
    else:
        status = "not TRD"
    alternatives = {}
    if min_weeks is None:
        for alt in st.adequacy.alternatives:
            alternatives[alt.name] = trd_status(trials, min_weeks=alt.min_weeks).status
    sources = tuple(
        dict.fromkeys(
            c.source for c in (*d.cite, *st.adequacy.default.cite, *antidepressants().groups_cite)
        )
    )
    return TrdStatus(
        status,
        tuple(failed.values()),
        groups,
        tuple(possible.values()),
        tuple(missing),
        d.name,
        f"{weeks_needed:g} weeks; {st.adequacy.dose_note.strip()}",
        sources,
        alternatives,
    )


def _failed(t: Trial, below: float) -> bool | None:
    if t.outcome == "intolerance":
        return False  # stopped for tolerability: not a failure of an adequate trial
    if t.improvement_percent is not None:
        return t.improvement_percent < below
    if t.outcome is not None:
        return t.outcome == "non-response"
    return None
