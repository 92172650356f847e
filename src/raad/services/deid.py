"""One de-identification policy for everything a researcher reads (API, web, FHIR, export).

Researchers see raad's records without what identifies a patient (HIPAA Safe Harbor, 45 CFR
164.514(b)(2), read as the standard for the kinds of data removed):

- no names, record numbers or birth dates (never in a researcher view to begin with);
- no free text: session notes, override reasons, acknowledgement notes, uncoded fact entries,
  adverse events outside raad's vocabulary and unknown drug names are withheld, since a clinician
  may write anything there (a name, an address, a phone number);
- no staff identities: who discharged a session or acknowledged an alert is withheld;
- dates moved by a per-patient random shift (1 to 365 days back, kept in the patient row and
  never shown), so intervals within a patient hold but no calendar date is real; any string
  that reads as an ISO date or date-time is shifted, wherever it stands;
- ages of 90 and over top-coded at 90, and the birth year withheld for them (Safe Harbor: "all
  ages over 89 and all elements of dates (including year) indicative of such age").

``redact`` walks a view (dicts and lists) and returns a de-identified copy; the identified view
is never changed. Every researcher read is audited by the caller (``api.deps.run``, the web).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import select

from raad.knowledge.disclosure import load_disclosure
from raad.knowledge.treatment import adverse_events
from raad.store.core import Executor
from raad.store.models import Patient

from .context import Actor
from .schemas import ADVERSE_EVENT_TERMS

AGE_TOP_CODE = load_disclosure().age_top_code.value  # knowledge/disclosure.yaml (Safe Harbor)
MIN_CELL = load_disclosure().min_cell_size.value  # knowledge/disclosure.yaml
WITHHELD = "[withheld: free text]"
WITHHELD_DATE = "[withheld: date]"

# values that are free text wherever they stand
_TEXT_KEYS = frozenset(
    {
        "notes",
        "note",
        "acknowledgement_note",
        "withdrawn_reason",  # why a signature was withdrawn (a course unlocked)
        "lot_numbers",  # typed by hand: withheld like any free text
        "override_reason",
        "reason",  # override {"reason": ...}
        "stale_reason",
        "fact_notes",
        "fact_sources",
        "fact_dates",
        "unread",
        "unrecognised",  # screening: entries it could not match, as written
        "not_counted",
        "unresolved",  # a session's unresolved effects, as typed
        "missing",  # screening: what is missing, which may quote an unread record
        "text",  # a screening reason's or a FHIR element's words, which quote facts as typed
        "display",
        "drug",  # a trial's drug as typed; its ATC code stays
    }
)
# code systems whose codes a researcher may see (their codes are short and have a fixed form)
_CODE_SYSTEMS = frozenset(
    {
        "http://snomed.info/sct",
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://loinc.org",
        "http://www.whocc.no/atc",
    }
)
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,31}$")
# who did something (staff); withheld for researchers
_STAFF_KEYS = frozenset(
    {
        "discharged_by",
        "acknowledged_by",
        "acknowledged_by_username",
        "created_by",
        "username",
        "printed_name",  # an e-signature's signer
        "observed_by",  # who monitored a session
        "rems_submitted_by",
        "full_name",
        "locked_by",
        "withdrawn_by",
    }
)
# identifiers that have no place in a researcher view at all
_DROP_KEYS = frozenset({"identity", "given_name", "family_name", "mrn", "birth_date"})
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")


@cache
def _ae_vocabulary() -> frozenset[str]:
    return frozenset(
        [t.lower() for t in ADVERSE_EVENT_TERMS] + [e.event.lower() for e in adverse_events()]
    )


def shift_date(value: str, days: int) -> str:
    """An ISO date or date-time string moved by ``days`` (the format kept); unparseable -> as is."""
    try:
        if len(value) == 10:
            return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        out = (parsed + timedelta(days=days)).isoformat()
        return out.replace("+00:00", "Z") if value.endswith("Z") else out
    except ValueError:
        return WITHHELD_DATE  # reads as a date but is not one: never shown as written
    except OverflowError:
        return WITHHELD_DATE  # a date so far out that the shift leaves the calendar


def top_coded_age(age: int | None) -> int | None:
    return None if age is None else min(age, AGE_TOP_CODE)


def birth_year(year: int | None, today: date | None = None) -> int | None:
    """The birth year, or None where it tells an age of 90 or more (the age may be 89 or 90 in
    the year a person turns 90: withheld from the year they could be 90)."""
    if year is None:
        return None
    today = today or date.today()
    return None if today.year - year >= AGE_TOP_CODE else year


def view(actor: Actor, data: Any, shift_days: int | None) -> Any:
    """``data`` as ``actor`` may see it: unchanged for roles with identified access, else
    ``redact``-ed with the patient's shift."""
    return data if actor.identified_access else redact(data, shift_days)


def shifts(db: Executor) -> Callable[[int], int | None]:
    """A per-request lookup of patients' date shifts (for lists that span patients)."""
    seen: dict[int, int | None] = {}

    def shift(patient_id: int) -> int | None:
        if patient_id not in seen:
            seen[patient_id] = db.execute(
                select(Patient.date_shift_days).where(Patient.id == patient_id)
            ).scalar_one_or_none()
        return seen[patient_id]

    return shift


def redact(data: Any, shift_days: int | None) -> Any:
    """A de-identified copy of a view (see the module docstring for the policy); with
    ``shift_days`` None (a patient without a shift) every date is withheld instead."""
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in _DROP_KEYS:
                continue
            if key in _STAFF_KEYS:
                out[key] = None
            elif key in _TEXT_KEYS:
                out[key] = _withheld(value)
            elif key == "birth_year":
                out[key] = birth_year(value)
            elif key == "age_years" and isinstance(value, int):
                out[key] = top_coded_age(value)
            elif key == "deceased" and value:
                out[key] = "yes"  # the record says so; when is withheld
            elif key in ("conditions", "medications", "allergies") and isinstance(value, list):
                out[key] = [_entry(e) for e in value]
            elif key == "facts" and isinstance(value, list):
                out[key] = _withheld(value)  # a reason's facts, as typed ("deceased: ...")
            elif key == "adverse_events" and isinstance(value, list):
                out[key] = [_adverse_event(e) for e in value]
            elif key == "message" and isinstance(value, str):
                out[key] = _dates_in_text(value, shift_days)  # an alert's words name days
            else:
                out[key] = redact(value, shift_days)
        return out
    if isinstance(data, list | tuple):
        return [redact(v, shift_days) for v in data]
    if isinstance(data, str) and _ISO.match(data):
        return WITHHELD_DATE if shift_days is None else shift_date(data, shift_days)
    return data


_DATE_IN_TEXT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


def _dates_in_text(text: str, shift_days: int | None) -> str:
    """Raad's own words (an alert's message) with every date in them moved like the record's
    dates (withheld without a shift): a real day in a message would give the shift away."""
    return _DATE_IN_TEXT.sub(
        lambda m: WITHHELD_DATE if shift_days is None else shift_date(m.group(0), shift_days),
        text,
    )


def _withheld(value: Any) -> Any:
    """Free text replaced, its shape kept (a list stays a list of the same length)."""
    if value in (None, "", {}, []):
        return value
    if isinstance(value, list | tuple):
        return [WITHHELD] * len(value)
    if isinstance(value, Mapping):
        return dict.fromkeys(value, WITHHELD)
    return WITHHELD


def _coding(system: Any, code: Any) -> dict[str, str] | None:
    """A code a researcher may see: from a known code system and of a code's form (a clinician
    could type anything into ``system`` or ``code``)."""
    if system in _CODE_SYSTEMS and isinstance(code, str) and _CODE.match(code):
        return {"system": system, "code": code}
    return None


def _entry(e: Any) -> Any:
    """A condition, medication or allergy entry: its codes (known systems, a code's form) and
    status; never its text, which a clinician may have typed (the code says what it is)."""
    if not isinstance(e, Mapping):
        return {"text": WITHHELD}
    kept: dict[str, Any] = {k: e[k] for k in ("status", "active") if k in e}
    main = _coding(e.get("system"), e.get("code"))
    if main:
        kept.update(main)
    codings = [
        c
        for x in e.get("codings") or []
        if isinstance(x, Mapping) and (c := _coding(x.get("system"), x.get("code")))
    ]
    if codings:
        kept["codings"] = codings
    kept["text"] = WITHHELD
    return kept


def small_cells(
    rows: list[dict[str, Any]], total: str, counts: dict[str, str]
) -> list[dict[str, Any]]:
    """Aggregate rows as a researcher sees them: a row whose ``total`` is below the minimum cell
    size is left out; a count (``counts``: count key -> its rate's key) from 1 to below the
    minimum is shown as "<N" and its rate withheld (knowledge/disclosure.yaml)."""
    out = []
    for r in rows:
        if r[total] < MIN_CELL:
            continue
        r = dict(r)
        for count, rate in counts.items():
            if 0 < r[count] < MIN_CELL:
                r[count] = f"<{MIN_CELL}"
                r[rate] = None
        out.append(r)
    return out


def adverse_event_term(event: str) -> str:
    """The event as a researcher sees it: a term of raad's vocabulary, else "other"."""
    return event if event.lower() in _ae_vocabulary() else "other (free text withheld)"


def _adverse_event(e: Any) -> Any:
    if not isinstance(e, Mapping):
        return WITHHELD
    return {
        **{k: v for k, v in e.items() if k != "event"},
        "event": adverse_event_term(str(e.get("event", ""))),
    }
