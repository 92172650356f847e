"""Patient facts from an HL7 FHIR R4 Bundle (the form an EHR sends) for screening.

Resources read: Patient (sex, age at ``as_of``), Condition and MedicationStatement (coding and
text become screening entries; clinical status / statement status decide whether they are
active), Observation (blood pressure by the HL7 Blood Pressure profile's LOINC codes 85354-9 /
8480-6 / 8462-4, https://hl7.org/fhir/r4/bp.html; vitamin B12 and pregnancy status by their
text, using the laboratory's interpretation: raad holds no cited B12 cut-off of its own).
Anything not understood is returned in ``unused`` with the reason, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from raad.clinical.errors import ClinicalInputError
from raad.clinical.screening import Entry, PatientFacts

LOINC = "http://loinc.org"
BP_PANEL, SYSTOLIC, DIASTOLIC = "85354-9", "8480-6", "8462-4"
SYSTEMS = {
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://snomed.info/sct": "SNOMED-CT",
    "http://www.whocc.no/atc": "ATC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RXNORM",
    LOINC: "LOINC",
}
LOW = {"L", "LL", "LU"}
NORMAL = {"N"}
MAX_ENTRIES = 5000


@dataclass(frozen=True)
class BundleFacts:
    facts: PatientFacts
    unused: tuple[str, ...]


def _path_error(exc: ValidationError) -> ClinicalInputError:
    err = exc.errors()[0]
    return ClinicalInputError(
        "bundle." + ".".join(str(p) for p in err["loc"]), err.get("input"), err["msg"]
    )


def _entries(concept: Any) -> list[Entry]:
    if concept is None:
        return []
    out = []
    for c in concept.coding or []:
        out.append(
            Entry(
                text=c.display or concept.text,
                system=SYSTEMS.get(c.system or "", c.system),
                code=c.code,
            )
        )
    if not out and concept.text:
        out.append(Entry(text=concept.text))
    return out


def _codes(concept: Any) -> set[str]:
    return {c.code for c in (concept.coding or []) if c.system == LOINC} if concept else set()


def _text(concept: Any) -> str:
    if concept is None:
        return ""
    return " ".join(
        [concept.text or "", *[(c.display or "") for c in concept.coding or []]]
    ).lower()


def facts_from_bundle(bundle: dict[str, Any], *, as_of: date) -> BundleFacts:
    """Read a Bundle into ``PatientFacts``; ``as_of`` fixes the date ages are computed at."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ClinicalInputError(
            "bundle.resourceType",
            (bundle or {}).get("resourceType")
            if isinstance(bundle, dict)
            else type(bundle).__name__,
            "Bundle",
        )
    if len(bundle.get("entry") or []) > MAX_ENTRIES:
        raise ClinicalInputError(
            "bundle.entry", f"{len(bundle['entry'])} entries", f"at most {MAX_ENTRIES}"
        )
    try:
        b = Bundle.model_validate(bundle)
    except ValidationError as exc:
        raise _path_error(exc) from None
    data: dict[str, Any] = {"conditions": [], "medications": []}
    unused: list[str] = []
    for i, entry in enumerate(b.entry or []):
        r = entry.resource
        kind = r.get_resource_type() if r is not None else "none"
        if kind == "Patient":
            if r.gender in ("female", "male", "other"):
                data["sex"] = r.gender
            if r.birthDate is not None:
                born = r.birthDate
                data["age_years"] = (
                    as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
                )
        elif kind == "Condition":
            status = (
                {c.code for c in (r.clinicalStatus.coding or [])} if r.clinicalStatus else set()
            )
            active = not status or bool(status & {"active", "recurrence", "relapse"})
            for e in _entries(r.code):
                data["conditions"].append(e.model_copy(update={"active": active}))
        elif kind == "MedicationStatement":
            active = r.status in ("active", "intended", "on-hold") or r.status is None
            for e in _entries(r.medicationCodeableConcept):
                data["medications"].append(e.model_copy(update={"active": active}))
            if r.medicationCodeableConcept is None:
                unused.append(f"entry {i}: MedicationStatement without medicationCodeableConcept")
        elif kind == "Observation":
            why = _observation(r, data)
            if why:
                unused.append(f"entry {i}: {why}")
        else:
            unused.append(f"entry {i}: {kind} is not used for screening")
    data.pop("_bp_when", None)
    try:
        return BundleFacts(PatientFacts.parse(data), tuple(unused))
    except ClinicalInputError:
        raise


def _when(r: Any) -> datetime | None:
    t = r.effectiveDateTime
    if t is None and r.effectivePeriod is not None:
        t = r.effectivePeriod.start
    if t is None:
        return None
    if isinstance(t, datetime):
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return datetime(t.year, t.month, t.day, tzinfo=UTC)


def _observation(r: Any, data: dict[str, Any]) -> str | None:
    codes, text = _codes(r.code), _text(r.code)
    if BP_PANEL in codes or SYSTOLIC in codes or DIASTOLIC in codes:
        # the most recent blood pressure is the one screened (undated readings rank oldest)
        when = _when(r)
        if data.get("_bp_when") is not None and when is not None and when < data["_bp_when"]:
            return None
        if data.get("_bp_when") is not None and when is None:
            return None
        data["_bp_when"] = when
        for comp in r.component or []:
            value = comp.valueQuantity.value if comp.valueQuantity else None
            cc = _codes(comp.code)
            if SYSTOLIC in cc and value is not None:
                data["systolic_mmhg"] = float(value)
            if DIASTOLIC in cc and value is not None:
                data["diastolic_mmhg"] = float(value)
        return None
    for words, key in (("opioid use", "opioid_use"), ("breastfeeding", "breastfeeding")):
        if words in text:
            if r.valueBoolean is None:
                return f"{key.replace('_', ' ')} observation without a yes/no value"
            data[key] = bool(r.valueBoolean)
            return None
    if "b12" in text or "cobalamin" in text:
        interp = {c.code for i in (r.interpretation or []) for c in (i.coding or [])}
        if interp & LOW:
            data["b12_status"] = "low"
        elif interp & NORMAL:
            data["b12_status"] = "normal"
        else:
            return (
                "vitamin B12 result without a laboratory interpretation (raad has no cited cut-off)"
            )
        return None
    if "pregnan" in text:
        if r.valueBoolean is not None:
            data["pregnant"] = bool(r.valueBoolean)
            return None
        value = _text(r.valueCodeableConcept)
        if "not pregnant" in value:
            data["pregnant"] = False
        elif "pregnant" in value:
            data["pregnant"] = True
        else:
            return "pregnancy observation with a value raad cannot read"
        return None
    shown = (
        (r.code.text or next((c.display for c in r.code.coding or [] if c.display), ""))
        if r.code
        else ""
    )
    return f"Observation '{shown or ','.join(sorted(codes)) or '?'}' is not used for screening"
