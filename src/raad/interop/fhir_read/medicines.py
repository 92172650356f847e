"""Medicines in every FHIR shape, their statuses, dates and long-acting forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from raad.clinical.facts import Entry
from raad.knowledge.record_reading import record_reading
from raad.knowledge.treatment import contraindications

from .datatypes import (
    ElementError,
    day_of,
    fhir_time,
    make_entry,
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
                return c.get("code"), f"contained Medication {target}"
        raise ElementError(f"{path}.medicationReference", f"{target} names no contained Medication")
    if isinstance(target, str) and target in st.medication_index:
        return st.medication_index[target].get("code"), target
    if ref.get("display"):
        return {"text": ref["display"]}, "medicationReference.display"
    raise ElementError(
        f"{path}.medicationReference", f"{target!r} is not in the Bundle and has no display"
    )


def read_medication(r: dict[str, Any], path: str, st: ReadState) -> None:
    kind = r["resourceType"]
    rid = ref_id(r)
    status = r.get("status")
    mapping = _MED_STATUS[kind]
    if status not in mapping:
        raise ElementError(
            f"{path}.status", f"{status!r} is not a {kind} status ({', '.join(mapping)})"
        )
    reading = mapping[status]
    if reading is None:
        st.unused.append(f"{rid}: status {status}: ignored")
        if status == "entered-in-error":
            st.withdrawn.append(rid)
        return
    found = medication_concept(r, path, st)
    if found is None:
        st.unused.append(f"{rid}: no medicationCodeableConcept or medicationReference: not used")
        return
    concept, via = found
    start, end = _medication_times(r, path)
    text = (text_of(concept) or "").lower()
    effect = _effect_days(concept, text, r)
    if kind == "MedicationAdministration" and effect and reading == "ended":
        end = end or start
        if end is not None:
            end = end + timedelta(days=effect)
            reading = "current" if end >= st.as_of else "ended"
    if kind == "MedicationDispense" and reading == "ended" and start is not None:
        supply = r.get("daysSupply")
        days = supply.get("value") if isinstance(supply, dict) else None
        if isinstance(days, int | float) and days > 0:
            end = start + timedelta(days=float(days))
            reading = "current" if end >= st.as_of else "ended"
        else:
            end = start
    if reading == "current" and end is not None and end < st.as_of and kind != "MedicationRequest":
        reading = "ended"  # an active record whose period is over
    if reading == "ended":
        last = end or (
            start if kind in ("MedicationAdministration", "MedicationDispense") else None
        )
        status_out, when = "past", (last.date() if last else None)
    elif reading == "current":
        status_out, when = "current", (end.date() if end else None)
    else:
        status_out, when = "unknown", None
    desc = f"{rid}, status {status}"
    if status_out == "past":
        desc += f", last {day_of(last) if when else 'date not given'}"
    if effect and kind == "MedicationAdministration":
        desc += f", acts {effect:g} days"
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


def _medication_times(r: dict[str, Any], path: str) -> tuple[datetime | None, datetime | None]:
    kind = r["resourceType"]
    if kind == "MedicationRequest":
        start = fhir_time(r.get("authoredOn"), f"{path}.authoredOn")
        dr = r.get("dispenseRequest") if isinstance(r.get("dispenseRequest"), dict) else {}
        vp = dr.get("validityPeriod") if isinstance(dr.get("validityPeriod"), dict) else {}
        end = fhir_time(vp.get("end"), f"{path}.dispenseRequest.validityPeriod.end", end=True)
        return start, end
    if kind == "MedicationDispense":
        t = fhir_time(r.get("whenHandedOver"), f"{path}.whenHandedOver") or fhir_time(
            r.get("whenPrepared"), f"{path}.whenPrepared"
        )
        return t, None
    single = fhir_time(r.get("effectiveDateTime"), f"{path}.effectiveDateTime")
    if single is not None:
        return single, single
    p = r.get("effectivePeriod")
    if isinstance(p, dict):
        return (
            fhir_time(p.get("start"), f"{path}.effectivePeriod.start"),
            fhir_time(p.get("end"), f"{path}.effectivePeriod.end", end=True),
        )
    return None, None


def _effect_days(concept: Any, text: str, r: dict[str, Any]) -> float | None:
    """How long one dose acts, for long-acting forms the knowledge base lists."""
    ci = contraindications()
    for la in record_reading().long_acting:
        names = ci.substances[la.substance].names
        if any(n in text for n in names) and any(f in text for f in la.forms):
            return la.effect_days
        route = (
            text_of((r.get("dosage") or {}).get("route"))
            if isinstance(r.get("dosage"), dict)
            else None
        )
        if route and any(n in text for n in names) and any(f in route.lower() for f in la.forms):
            return la.effect_days
    return None


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
