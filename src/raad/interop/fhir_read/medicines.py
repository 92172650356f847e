"""Medicines in every FHIR shape, their statuses, dates and long-acting forms."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from raad.clinical.facts import Entry
from raad.knowledge.codes import system_name
from raad.knowledge.record_reading import record_reading
from raad.knowledge.treatment import contraindications

from .datatypes import (
    ElementError,
    day_of,
    fhir_time,
    make_entry,
    product_name,
    ref_id,
    text_of,
)
from .state import ReadState

# -- medicines --------------------------------------------------------------------------------

# Per resource type: status -> "current" | "ended" | "unknown" | None (ignored, with the reason)
_MED_STATUS: dict[str, dict[str, str | None]] = {
    "MedicationStatement": {
        "active": "current",
        "intended": "current",
        "on-hold": "current",
        "completed": "ended",
        "stopped": "ended",
        "unknown": "unknown",
        "entered-in-error": None,
        "not-taken": None,
    },
    "MedicationRequest": {
        "active": "current",
        "on-hold": "current",
        "completed": "ended",
        "stopped": "ended",
        "unknown": "unknown",
        "draft": None,
        "cancelled": None,
        "entered-in-error": None,
    },
    "MedicationDispense": {
        "preparation": "current",
        "in-progress": "current",
        "on-hold": "current",
        "completed": "ended",
        "stopped": "ended",
        "unknown": "unknown",
        "cancelled": None,
        "entered-in-error": None,
        "declined": None,
    },
    "MedicationAdministration": {
        "in-progress": "current",
        "on-hold": "current",
        "completed": "ended",
        "stopped": "ended",
        "unknown": "unknown",
        "not-done": None,
        "entered-in-error": None,
    },
}


def medication_concept(r: dict[str, Any], path: str, st: ReadState) -> tuple[Any, str] | None:
    if "medicationCodeableConcept" in r:
        return r["medicationCodeableConcept"], "medicationCodeableConcept"
    ref = r.get("medicationReference")
    if not isinstance(ref, dict):
        return None
    target = ref.get("reference")
    if isinstance(target, str) and target.startswith("#"):
        for c in r.get("contained") or []:
            if (
                isinstance(c, dict)
                and c.get("resourceType") == "Medication"
                and c.get("id") == target[1:]
            ):
                return _medication_code(c), f"contained Medication {target}"
        raise ElementError(f"{path}.medicationReference", f"{target} names no contained Medication")
    if isinstance(target, str) and target in st.medication_index:
        return _medication_code(st.medication_index[target]), target
    if ref.get("display"):
        return {"text": ref["display"]}, "medicationReference.display"
    raise ElementError(
        f"{path}.medicationReference", f"{target!r} is not in the Bundle and has no display"
    )


def _medication_code(m: dict[str, Any]) -> Any:
    """A Medication's code, or, when it has none, its ingredients' codes and names together (a
    compounded or ingredient-only Medication still names what it holds)."""
    if m.get("code"):
        return m["code"]
    coding: list[Any] = []
    texts: list[str] = []
    for i in m.get("ingredient") or []:
        item = i.get("itemCodeableConcept") if isinstance(i, dict) else None
        if isinstance(item, dict):
            coding += [c for c in item.get("coding") or [] if isinstance(c, dict)]
            t = text_of(item)
            if t:
                texts.append(t)
    if not coding and not texts:
        return None
    return {"coding": coding, **({"text": " / ".join(texts)} if texts else {})}


def read_medication(r: dict[str, Any], path: str, st: ReadState) -> None:
    """One medicine record as an entry: *current* while its status says it is taken (dates never
    turn an active record into a stopped one), *past* with the latest day it can have been taken
    or acted (a long-acting form acts for its cited duration), *unknown* when the record cannot
    say (a stopped record without a usable date is asked about by the rules that need one)."""
    kind = r["resourceType"]
    rid = ref_id(r)
    status = r.get("status")
    mapping = _MED_STATUS[kind]
    if not isinstance(status, str) or status not in mapping:
        raise ElementError(
            f"{path}.status", f"{status!r} is not a {kind} status ({', '.join(mapping)})"
        )
    reading = mapping[status]
    if reading is None:  # the record no longer says the medicine is taken
        st.unused.append(f"{rid}: status {status}: ignored")
        st.withdrawn.append(rid)
        return
    if r.get("doNotPerform") is True:
        st.unused.append(f"{rid}: doNotPerform (an order not to give it): not used")
        st.withdrawn.append(rid)
        return
    found = medication_concept(r, path, st)
    if found is None:
        st.unused.append(f"{rid}: no medicationCodeableConcept or medicationReference: not used")
        return
    concept, via = found
    long_acting, effect = _long_acting(concept, r)
    last = _last_day(r, path) if reading == "ended" else None
    note = ""
    if reading == "ended" and long_acting:
        if effect is None:
            reading, note = "unknown", "a long-acting form whose duration no source read gives"
        elif last is not None:
            last = last + timedelta(days=effect)
            reading = "current" if last >= st.as_of else "ended"
            note = f"acts {effect:g} days"
    if reading == "ended":
        status_out, when = "past", (last.date() if last else None)
    else:
        status_out, when = ("current" if reading == "current" else "unknown"), None
    desc = f"{rid}, status {status}"
    if status_out == "past":
        desc += f", last {day_of(last) if last else 'date not given'}"
    if note:
        desc += f", {note}"
    if via != "medicationCodeableConcept":
        desc += f", via {via}"
    e = make_entry(
        concept,
        f"{path}.{via}",
        status=status_out,
        date=when,
        source=desc,
        resource=rid if "/" in rid else None,
    )
    if e is None:
        st.unused.append(f"{rid}: medicine without a code or text: not used")
        return
    st.medications.append(e)


def _last_day(r: dict[str, Any], path: str) -> datetime | None:
    """The latest moment a stopped record's medicine can have been taken (partial dates count to
    their last day), or None when the record does not say: a prescription's validity period or
    a hand-over date without a supply is not a date of taking."""
    kind = r["resourceType"]
    if kind == "MedicationRequest":
        dr = r.get("dispenseRequest") if isinstance(r.get("dispenseRequest"), dict) else {}
        start = fhir_time(r.get("authoredOn"), f"{path}.authoredOn", end=True)
        days = _days(dr.get("expectedSupplyDuration"))
        return start + timedelta(days=days) if start is not None and days else None
    if kind == "MedicationDispense":
        handed = fhir_time(r.get("whenHandedOver"), f"{path}.whenHandedOver", end=True)
        days = _days(r.get("daysSupply"))
        return handed + timedelta(days=days) if handed is not None and days else None
    single = fhir_time(r.get("effectiveDateTime"), f"{path}.effectiveDateTime", end=True)
    if single is not None:
        return single
    p = r.get("effectivePeriod")
    if isinstance(p, dict):
        return fhir_time(p.get("end"), f"{path}.effectivePeriod.end", end=True)
    return None


# UCUM units of a Duration or Quantity of days; a month is the Julian 30.4375 days.
_DAYS_PER_UNIT = {
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "wk": 7.0,
    "week": 7.0,
    "weeks": 7.0,
    "mo": 30.4375,
}


def _days(q: Any) -> float | None:
    if not isinstance(q, dict):
        return None
    v = q.get("value")
    unit = str(q.get("code") or q.get("unit") or "d").strip().lower()
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        return None
    factor = _DAYS_PER_UNIT.get(unit)
    return float(v) * factor if factor else None


def _long_acting(concept: Any, r: dict[str, Any]) -> tuple[bool, float | None]:
    """Whether the medicine is a long-acting form the knowledge base lists, and how many days
    one dose acts (None when no source read gives it), read from the concept's text, the RxNorm
    product's name and the route."""
    ci = contraindications()
    words = [(text_of(concept) or "").lower()]
    if isinstance(concept, dict):
        for c in concept.get("coding") or []:
            if isinstance(c, dict) and system_name(c.get("system")) == "RXNORM":
                name = product_name(str(c.get("code")))
                if name:
                    words.append(name.lower())
    dosage = r.get("dosage")
    if isinstance(dosage, dict):
        words.append((text_of(dosage.get("route")) or "").lower())
    text = " ".join(words)
    for la in record_reading().long_acting:
        names = ci.substances[la.substance].names
        if any(n in text for n in names) and any(f in text for f in la.forms):
            return True, la.effect_days
    return False, None


def order_entry(r: dict[str, Any], path: str) -> Entry | None:
    """What a ServiceRequest orders (its ``code``), as a current medicine entry: an N2O session
    is often ordered as a procedure."""
    return make_entry(
        r.get("code"), f"{path}.code", status="current", source=f"{ref_id(r)}, draft order"
    )


def medication_entry(r: dict[str, Any], path: str) -> Entry | None:
    """The medicine of one order or statement as a current medication entry (a CDS Hooks draft
    order: ``medicationCodeableConcept`` or a contained ``medicationReference``)."""
    st = ReadState(as_of=datetime.now(UTC), facts={})
    found = medication_concept(r, path, st)
    if found is None:
        return None
    concept, via = found
    return make_entry(
        concept, f"{path}.{via}", status="current", source=f"{ref_id(r)}, draft order"
    )
