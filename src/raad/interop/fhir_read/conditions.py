"""Condition and AllergyIntolerance: statuses, abatement and allergies."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from raad.clinical.facts import Entry

from .datatypes import (
    ElementError,
    day_of,
    fhir_time,
    make_entry,
    ref_id,
    status_codes,
)
from .state import ReadState

# -- Condition --------------------------------------------------------------------------------

_ACTIVE = {"active", "recurrence", "relapse"}
_HISTORY = {"inactive", "remission", "resolved"}
_IGNORED_VERIFICATION = {"entered-in-error", "refuted"}
_UNCONFIRMED = {"unconfirmed", "provisional", "differential"}


def read_condition(r: dict[str, Any], path: str, st: ReadState) -> None:
    rid = ref_id(r)
    verification = status_codes(r.get("verificationStatus"), f"{path}.verificationStatus")
    if verification & _IGNORED_VERIFICATION:
        st.unused.append(
            f"{rid}: verificationStatus {'/'.join(sorted(verification & _IGNORED_VERIFICATION))}: ignored"
        )
        st.withdrawn.append(rid)
        return
    clinical = status_codes(r.get("clinicalStatus"), f"{path}.clinicalStatus")
    status = "active"
    why = ""
    if clinical & _HISTORY:
        status, why = "history", f"clinicalStatus {'/'.join(sorted(clinical & _HISTORY))}"
    elif not clinical:
        why = "no clinicalStatus: read as active"
    abated = _soft(lambda: _abatement(r, path), st)
    if clinical & {"recurrence", "relapse"}:
        if abated is not None:
            why = f"clinicalStatus {'/'.join(sorted(clinical))} (an older abatement is ignored)"
    elif abated is not None and abated <= st.as_of and status == "active":
        status, why = "history", f"abated {day_of(abated)}"
    elif r.get("abatementString") or r.get("abatementBoolean"):
        status, why = "history", "abated"
    if verification & _UNCONFIRMED and status == "active":
        status, why = (
            "unconfirmed",
            f"verificationStatus {'/'.join(sorted(verification & _UNCONFIRMED))}",
        )
    # the latest day a partial onset can be: windows ("within 6 weeks") count from it
    onset = _soft(
        lambda: (
            fhir_time(r.get("onsetDateTime"), f"{path}.onsetDateTime", end=True)
            or fhir_time(
                (r.get("onsetPeriod") or {}).get("start"), f"{path}.onsetPeriod.start", end=True
            )
            or fhir_time(r.get("recordedDate"), f"{path}.recordedDate", end=True)
        ),
        st,
    )
    e = make_entry(
        r.get("code"),
        f"{path}.code",
        status=status,
        date=onset.date() if onset else None,
        source=f"{rid}, {status}{', ' + why if why else ''}, {day_of(onset)}",
        resource=rid if "/" in rid else None,
    )
    if e is None:
        st.unused.append(f"{rid}: no code and no text: not used")
        return
    st.conditions.append(e)


def _soft(read: Any, st: ReadState) -> Any:
    """A date the condition can be read without: a bad one is a problem, the condition stays."""
    try:
        return read()
    except ElementError as exc:
        st.problems.append(f"{exc} (the condition is read without this date)")
        return None


def _abatement(r: dict[str, Any], path: str) -> datetime | None:
    """When the condition abated, at the latest a partial date allows (still active until then)."""
    t = fhir_time(r.get("abatementDateTime"), f"{path}.abatementDateTime", end=True)
    if t is None and isinstance(r.get("abatementPeriod"), dict):
        p = r["abatementPeriod"]
        t = fhir_time(p.get("end") or p.get("start"), f"{path}.abatementPeriod", end=True)
    if t is None and (r.get("abatementAge") or r.get("abatementRange")):
        return datetime.min.replace(tzinfo=UTC)  # abated at an age: in the past
    return t


# -- AllergyIntolerance -----------------------------------------------------------------------


def read_allergy(r: dict[str, Any], path: str, st: ReadState) -> None:
    rid = ref_id(r)
    verification = status_codes(r.get("verificationStatus"), f"{path}.verificationStatus")
    clinical = status_codes(r.get("clinicalStatus"), f"{path}.clinicalStatus")
    if verification & {"entered-in-error", "refuted"}:
        st.unused.append(f"{rid}: verificationStatus {'/'.join(sorted(verification))}: ignored")
        st.withdrawn.append(rid)
        return
    if clinical & {"inactive", "resolved"}:
        st.unused.append(f"{rid}: clinicalStatus {'/'.join(sorted(clinical))}: not used")
        st.withdrawn.append(rid)
        return
    status = "unconfirmed" if verification & {"unconfirmed", "presumed"} else "active"
    concepts = [(r.get("code"), f"{path}.code")]
    for i, reaction in enumerate(r.get("reaction") or []):
        if isinstance(reaction, dict) and reaction.get("substance") is not None:
            concepts.append((reaction["substance"], f"{path}.reaction[{i}].substance"))
    added = False
    for concept, p in concepts:
        e = make_entry(
            concept,
            p,
            status=status,
            source=f"{rid}, {status}",
            resource=rid if "/" in rid else None,
        )
        if e is not None:
            if st.allergies is None:
                st.allergies = []  # a record that asserts something: the list is known
            if _no_known_allergy(e):
                added = True
                continue
            st.allergies.append(e)
            added = True
    if not added:
        st.unused.append(f"{rid}: no substance code or text: not used")


def _no_known_allergy(e: Entry) -> bool:
    """'No known allergies' as text ("No known (drug) allergy/allergies", NKA, NKDA)."""
    t = (e.text or "").lower()
    return bool(re.search(r"\b(no known (drug )?allerg(y|ies)|nkda|nka)\b", t))
