"""The one reader from FHIR R4 to raad's screening facts, used by ``raad screen``, the import
API and CDS Hooks alike.

``read_bundle(bundle, as_of=...)`` takes a Bundle (or a list of resources) as parsed JSON and
returns ``BundleRead``: ``PatientFacts`` for screening, the Patient resource, what was used
(which resource and date each fact came from), what was not used and why, and the problems
found (each with the element's path). One bad element never stops the rest of the Bundle.

What it understands (the rules and their sources are in ``knowledge/record_reading.yaml`` and
docs/ehr-reading.md):

- the subject: a resource about another patient is refused and listed, never used;
- Condition: ``clinicalStatus`` (active, recurrence, relapse -> active; inactive, remission,
  resolved -> history), ``verificationStatus`` (entered-in-error and refuted are ignored;
  provisional, differential, unconfirmed -> unconfirmed) and ``abatement[x]`` (abated -> history);
- medicines in every shape: MedicationStatement, MedicationRequest, MedicationDispense and
  MedicationAdministration, coded by ``medicationCodeableConcept`` or ``medicationReference``
  (contained, or in the Bundle; otherwise reported). Their statuses and dates become current /
  past (with the date last taken, or when a long-acting form stops acting) / unknown;
- Observation: only final, amended and corrected results count, the newest effective time wins
  (never Bundle order), a fact older than its freshness window is reported missing with its
  date; blood pressure from the 85354-9 and 55284-4 panels and from separate systolic and
  diastolic observations taken at the same time (never combined across times); B12 by the
  laboratory's flag or its own reference range, units converted (pg/mL, ng/L, pmol/L);
  pregnancy status (82810-3) and hCG tests; breastfeeding status;
- AllergyIntolerance (active, confirmed or unconfirmed) as hypersensitivity facts;
- Patient: sex and age at ``as_of`` from a full or partial ``birthDate`` ("1981", "1981-05": the
  youngest age the patient can be, and the reader says so).

The reader validates the elements it reads (types, codes, dates) itself: ``fhir.resources``
ships R4B and R5 models, not R4, and R4-only resource types must never fail a read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from raad.clinical.errors import ClinicalInputError
from raad.clinical.facts import PatientFacts

from .conditions import read_allergy, read_condition
from .datatypes import DATE, ElementError, fhir_time, ref_id
from .medicines import medication_entry, order_entry, read_medication
from .observations import read_observation, settle_observations
from .state import ReadState

__all__ = [
    "MAX_ENTRIES",
    "BundleRead",
    "ElementError",
    "FhirReadError",
    "medication_entry",
    "order_entry",
    "read_bundle",
    "read_resources",
]

MAX_ENTRIES = 50_000
SHOWN_NAMES = 12  # names listed per resource type not used, before "..."
LOINC = "http://loinc.org"


class FhirReadError(ClinicalInputError):
    """The input cannot be read at all (not a Bundle, no Patient); names the element."""


@dataclass
class BundleRead:
    facts: PatientFacts
    patient: dict[str, Any] | None
    used: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    as_of: date | None = None
    withdrawn: list[str] = field(default_factory=list)  # resources marked entered-in-error/refuted
    patient_problems: list[str] = field(default_factory=list)  # the Patient's own bad elements

    def to_dict(self) -> dict[str, Any]:
        return {
            "used": self.used,
            "unused": self.unused,
            "problems": self.problems,
            "withdrawn": self.withdrawn,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


def read_bundle(
    bundle: Any,
    *,
    as_of: date | datetime,
    freshness_days: dict[str, float] | None = None,
) -> BundleRead:
    """Read a Bundle (dict) or a list of resources into screening facts (see the module
    docstring). ``as_of`` is when the screen is for (ages, windows); ``freshness_days``
    overrides the knowledge base's windows (a site's policy).

    Raises ``FhirReadError`` when the input is not a Bundle of resources or names no single
    Patient; every other problem is reported in ``BundleRead.problems`` with its path.
    """
    resources = _resources(bundle)
    now = (
        as_of
        if isinstance(as_of, datetime)
        else datetime(as_of.year, as_of.month, as_of.day, 23, 59, 59, tzinfo=UTC)
    )
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    st = ReadState(as_of=now, facts={})
    patients = [(i, r) for i, r in resources if r.get("resourceType") == "Patient"]
    if len(patients) != 1:
        raise FhirReadError(
            "bundle.entry",
            f"{len(patients)} Patient resources",
            "exactly one Patient (the person to screen)",
        )
    pi, patient = patients[0]
    refs = _patient_refs(bundle, pi, patient)
    read_patient(patient, f"{_path(bundle, pi)}", st)
    for i, r in resources:
        if r.get("resourceType") == "Medication" and isinstance(r.get("id"), str):
            st.medication_index[f"Medication/{r['id']}"] = r
            full = _full_url(bundle, i)
            if full:
                st.medication_index[full] = r
    readers = {
        "Condition": read_condition,
        "MedicationStatement": read_medication,
        "MedicationRequest": read_medication,
        "MedicationDispense": read_medication,
        "MedicationAdministration": read_medication,
        "Observation": read_observation,
        "AllergyIntolerance": read_allergy,
    }
    for i, r in resources:
        kind = r.get("resourceType")
        if kind == "Patient" or kind == "Medication":
            continue
        if kind == "_malformed":
            st.problems.append(
                f"{_path(bundle, i)}: not a FHIR resource (an object with a resourceType): not read"
            )
            st.unread.append(f"{_path(bundle, i)} (not a FHIR resource)")
            continue
        reader = readers.get(kind)  # type: ignore[arg-type]
        if reader is None:
            st.skipped[str(kind)] = st.skipped.get(str(kind), 0) + 1
            continue
        path = _path(bundle, i)
        other = _other_subject(r, kind, refs, patient)
        if other:
            st.unused.append(f"{ref_id(r)}: its subject is {other}, not this patient: refused")
            continue
        try:
            reader(r, path, st)
        except ElementError as exc:
            st.problems.append(f"{exc} ({ref_id(r)}: not read)")
            st.unread.append(f"{ref_id(r)} ({str(exc)[:200]})")
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            st.problems.append(
                f"{path}: cannot be read ({type(exc).__name__}) ({ref_id(r)}: not read)"
            )
            st.unread.append(f"{ref_id(r)} ({path})")
    settle_observations(st, freshness_days or {})
    for kind, n in sorted(st.skipped.items()):
        names = list(st.skipped_names.get(kind, {}))
        shown = (
            f" ({', '.join(names[:SHOWN_NAMES])}{', ...' if len(names) > SHOWN_NAMES else ''})"
            if names
            else ""
        )
        st.unused.append(
            f"{n} {kind} resource{'s' if n > 1 else ''}{shown}: not used for screening"
        )
    data = st.facts | {
        "conditions": st.conditions,
        "medications": st.medications,
        "allergies": st.allergies,
        "unread": st.unread,
    }
    facts = PatientFacts.parse(data)  # the reader checks every value it keeps
    return BundleRead(
        facts,
        patient,
        st.used,
        st.unused,
        st.patient_problems + st.problems,
        now.date(),
        st.withdrawn,
        st.patient_problems,
    )


def _resources(bundle: Any) -> list[tuple[int, dict[str, Any]]]:
    if isinstance(bundle, list):
        items = [{"resource": r} for r in bundle]
    elif isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle":
        items = bundle.get("entry") or []
        if not isinstance(items, list):
            raise FhirReadError("bundle.entry", type(items).__name__, "a list of entries")
    else:
        got = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        raise FhirReadError("bundle.resourceType", got, "Bundle")
    if len(items) > MAX_ENTRIES:
        raise FhirReadError("bundle.entry", f"{len(items)} entries", f"at most {MAX_ENTRIES}")
    out = []
    for i, e in enumerate(items):
        r = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
            out.append((i, {"resourceType": "_malformed"}))
            continue
        out.append((i, r))
    return out


def _path(bundle: Any, i: int) -> str:
    return f"entry[{i}].resource" if isinstance(bundle, dict) else f"resource[{i}]"


def _full_url(bundle: Any, i: int) -> str | None:
    if isinstance(bundle, dict):
        e = bundle["entry"][i]
        u = e.get("fullUrl") if isinstance(e, dict) else None
        return u if isinstance(u, str) else None
    return None


def _reference_key(ref: str) -> str:
    """A reference as 'Type/id': versioned (``/_history/n``) and absolute forms reduced."""
    ref = ref.split("/_history/")[0].rstrip("/")
    parts = ref.split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 and not ref.startswith("urn:") else ref


def _other_subject(
    r: dict[str, Any], kind: str, refs: set[str], patient: dict[str, Any]
) -> str | None:
    """The subject a resource names when it is not the Bundle's patient, else None."""
    subject = r.get("patient" if kind == "AllergyIntolerance" else "subject")
    if not isinstance(subject, dict):
        return None
    ref = subject.get("reference")
    if isinstance(ref, str):
        if ref in refs or _reference_key(ref) in refs:
            return None
        return ref
    ident = subject.get("identifier")
    if isinstance(ident, dict) and ident.get("value") is not None:
        mine = {
            (i.get("system"), i.get("value"))
            for i in patient.get("identifier") or []
            if isinstance(i, dict)
        }
        if (ident.get("system"), ident.get("value")) not in mine:
            return f"identifier {ident.get('system')}|{ident.get('value')}"
    return None


def _patient_refs(bundle: Any, i: int, patient: dict[str, Any]) -> set[str]:
    """Every reference that names the Bundle's patient."""
    refs = set()
    pid = patient.get("id")
    if isinstance(pid, str):
        refs |= {f"Patient/{pid}", pid}
    full = _full_url(bundle, i)
    if full:
        refs.add(full)
        refs.add(_reference_key(full))
    return refs


def read_patient(r: dict[str, Any], path: str, st: ReadState) -> None:
    died = r.get("deceasedDateTime")
    if r.get("deceasedBoolean") is True or isinstance(died, str):
        st.facts["deceased"] = died[:25] if isinstance(died, str) else "yes"
        st.facts.setdefault("fact_sources", {})["deceased"] = f"{ref_id(r)}.deceased"
        st.used.append(f"{ref_id(r)}: deceased {st.facts['deceased']}")
    gender = r.get("gender")
    if gender in ("female", "male", "other"):
        st.facts["sex"] = gender
    elif gender is not None and gender != "unknown":
        st.patient_problems.append(
            f"{path}.gender: {gender!r} is not an AdministrativeGender (male, female, other, unknown)"
        )
    born = r.get("birthDate")
    if born is None:
        return
    if not isinstance(born, str) or not DATE.fullmatch(born):
        st.patient_problems.append(
            f"{path}.birthDate: {born!r} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD); age not used"
        )
        return
    try:
        latest = fhir_time(born, f"{path}.birthDate", end=True)
    except ElementError as exc:
        st.patient_problems.append(f"{exc}; age not used")
        return
    assert latest is not None
    today = st.as_of.date()
    b = latest.date()
    if b > today:
        st.patient_problems.append(f"{path}.birthDate: {born} is after {today}; age not used")
        return
    age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    st.facts["age_years"] = age
    note = f"Patient birthDate {born}"
    if len(born) < 10:
        note += f" (partial: age is at least {age})"
    st.facts.setdefault("fact_sources", {})["age_years"] = note
    st.used.append(f"{ref_id(r)}: age {age}, sex {gender or 'not given'}")


def read_resources(resources: Iterable[dict[str, Any]], *, as_of: date | datetime) -> BundleRead:
    """``read_bundle`` for resources not wrapped in a Bundle (NDJSON lines, CDS prefetch)."""
    return read_bundle(list(resources), as_of=as_of)
