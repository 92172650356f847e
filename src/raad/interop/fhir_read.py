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

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from raad.clinical.errors import ClinicalInputError
from raad.clinical.facts import Coding, Entry, PatientFacts
from raad.knowledge.codes import system_name
from raad.knowledge.record_reading import record_reading
from raad.knowledge.treatment import contraindications

MAX_ENTRIES = 50_000
SHOWN_NAMES = 12  # names listed per resource type not used, before "..."
LOINC = "http://loinc.org"
_DATE = re.compile(r"([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?")
_DATETIME = re.compile(
    r"([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)


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


# -- small readers of FHIR datatypes ---------------------------------------------------------


class ElementError(ValueError):
    """One element cannot be read: its path and why."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")


def _when(value: Any, path: str, *, end: bool = False) -> datetime | None:
    """A FHIR date, dateTime or instant as an aware UTC datetime (partial dates: the start of
    the period they name, or its end with ``end=True``)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DATETIME.fullmatch(value):
        raise ElementError(path, f"{value!r} is not a FHIR date or dateTime")
    if "T" in value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            raise ElementError(path, f"{value!r} is not a valid dateTime") from None
    parts = [int(p) for p in value.split("-")]
    try:
        if len(parts) == 1:
            d = date(parts[0], 12, 31) if end else date(parts[0], 1, 1)
        elif len(parts) == 2:
            if end:
                nxt = date(parts[0] + (parts[1] == 12), parts[1] % 12 + 1, 1)
                d = nxt - timedelta(days=1)
            else:
                d = date(parts[0], parts[1], 1)
        else:
            d = date(parts[0], parts[1], parts[2])
    except ValueError:
        raise ElementError(path, f"{value!r} is not a valid date") from None
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _codes(concept: Any, path: str, *, any_system: bool = False) -> list[tuple[str, str]]:
    """(system as sent, code) pairs of a CodeableConcept; with ``any_system`` codes without a
    system are kept too (statuses and flags, whose element fixes the code system)."""
    if concept is None:
        return []
    if not isinstance(concept, dict):
        raise ElementError(path, "a CodeableConcept must be an object")
    coding = concept.get("coding") or []
    if not isinstance(coding, list):
        raise ElementError(f"{path}.coding", "must be a list")
    out = []
    for i, c in enumerate(coding):
        if not isinstance(c, dict):
            raise ElementError(f"{path}.coding[{i}]", "must be an object")
        s, k = c.get("system"), c.get("code")
        if s is not None and not isinstance(s, str):
            raise ElementError(f"{path}.coding[{i}].system", "must be a string (a URI)")
        if k is not None and not isinstance(k, str):
            raise ElementError(f"{path}.coding[{i}].code", "must be a string")
        if k and (s or any_system):
            out.append((s or "", k.strip()))
    return out


def _text(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    t = concept.get("text")
    if isinstance(t, str) and t.strip():
        return t.strip()
    for c in concept.get("coding") or []:
        if isinstance(c, dict) and isinstance(c.get("display"), str) and c["display"].strip():
            return c["display"].strip()
    return None


def _status_codes(concept: Any, path: str) -> set[str]:
    return {k for _, k in _codes(concept, path, any_system=True)} if concept is not None else set()


def _loinc(concept: Any, path: str) -> set[str]:
    return {k for s, k in _codes(concept, path) if system_name(s) == "LOINC"}


def _entry(concept: Any, path: str, **kw: Any) -> Entry | None:
    codes = _codes(concept, path)
    text = _text(concept)
    if not codes and not text:
        return None
    first, rest = (codes[0], codes[1:]) if codes else ((None, None), [])
    return Entry(
        text=text[:1000] if text else None,
        system=first[0][:300] if first[0] else None,
        code=first[1][:100] if first[1] else None,
        codings=tuple(Coding(system=s[:300], code=k[:100]) for s, k in rest),
        **kw,
    )


def _ref_id(resource: dict[str, Any]) -> str:
    rid = resource.get("id")
    return (
        f"{resource.get('resourceType')}/{rid}"
        if isinstance(rid, str)
        else str(resource.get("resourceType"))
    )


def _day(t: datetime | None) -> str:
    return t.date().isoformat() if t else "undated"


# -- the reader -------------------------------------------------------------------------------


@dataclass
class _Observed:
    when: datetime
    value: Any
    source: str


@dataclass
class _State:
    as_of: datetime
    facts: dict[str, Any]
    conditions: list[Entry] = field(default_factory=list)
    medications: list[Entry] = field(default_factory=list)
    allergies: list[Entry] | None = None
    used: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_names: dict[str, dict[str, None]] = field(default_factory=dict)
    withdrawn: list[str] = field(default_factory=list)
    patient_problems: list[str] = field(default_factory=list)
    observed: dict[str, list[_Observed]] = field(default_factory=dict)
    bp_parts: dict[tuple[datetime, str], dict[str, float]] = field(default_factory=dict)
    medication_index: dict[str, dict[str, Any]] = field(default_factory=dict)

    def observe(self, fact: str, when: datetime | None, value: Any, source: str) -> None:
        if when is None:
            self.unused.append(
                f"{source}: {fact.replace('_', ' ')} without an effective time: not used"
            )
            return
        self.observed.setdefault(fact, []).append(_Observed(when, value, source))


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
    st = _State(as_of=now, facts={})
    patients = [(i, r) for i, r in resources if r.get("resourceType") == "Patient"]
    if len(patients) != 1:
        raise FhirReadError(
            "bundle.entry",
            f"{len(patients)} Patient resources",
            "exactly one Patient (the person to screen)",
        )
    pi, patient = patients[0]
    refs = _patient_refs(bundle, pi, patient)
    _read_patient(patient, f"{_path(bundle, pi)}", st)
    for i, r in resources:
        if r.get("resourceType") == "Medication" and isinstance(r.get("id"), str):
            st.medication_index[f"Medication/{r['id']}"] = r
            full = _full_url(bundle, i)
            if full:
                st.medication_index[full] = r
    readers = {
        "Condition": _read_condition,
        "MedicationStatement": _read_medication,
        "MedicationRequest": _read_medication,
        "MedicationDispense": _read_medication,
        "MedicationAdministration": _read_medication,
        "Observation": _read_observation,
        "AllergyIntolerance": _read_allergy,
    }
    for i, r in resources:
        kind = r.get("resourceType")
        if kind == "Patient" or kind == "Medication":
            continue
        if kind == "_malformed":
            st.problems.append(
                f"{_path(bundle, i)}: not a FHIR resource (an object with a resourceType): not used"
            )
            continue
        reader = readers.get(kind)  # type: ignore[arg-type]
        if reader is None:
            st.skipped[str(kind)] = st.skipped.get(str(kind), 0) + 1
            continue
        path = _path(bundle, i)
        subject = r.get("patient" if kind == "AllergyIntolerance" else "subject")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        if ref is not None and ref not in refs:
            st.unused.append(
                f"{_ref_id(r)}: its subject is {ref}, not this patient: refused, not used"
            )
            continue
        try:
            reader(r, path, st)
        except ElementError as exc:
            st.problems.append(f"{exc} ({_ref_id(r)}: not used)")
        except (TypeError, AttributeError, ValueError) as exc:
            st.problems.append(
                f"{path}: cannot be read ({type(exc).__name__}) ({_ref_id(r)}: not used)"
            )
    _settle_observations(st, freshness_days or {})
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
    }
    try:
        facts = PatientFacts.parse(data)
    except ClinicalInputError as exc:  # a value outside raad's limits: name it, keep the rest
        st.problems.append(
            f"{exc.field}: {exc.value!r} is outside what raad accepts ({exc.allowed}); not used"
        )
        for k in ("systolic_mmhg", "diastolic_mmhg") if "mmhg" in exc.field else (exc.field,):
            data.pop(k, None)
            data.setdefault("fact_sources", {}).pop(k, None)
        facts = PatientFacts.parse(data)
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


def _patient_refs(bundle: Any, i: int, patient: dict[str, Any]) -> set[str]:
    """Every reference that names the Bundle's patient."""
    refs = set()
    pid = patient.get("id")
    if isinstance(pid, str):
        refs |= {f"Patient/{pid}", pid}
    full = _full_url(bundle, i)
    if full:
        refs.add(full)
        if pid and full.endswith(f"/Patient/{pid}"):
            refs.add(full)
    return refs


def _read_patient(r: dict[str, Any], path: str, st: _State) -> None:
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
    if not isinstance(born, str) or not _DATE.fullmatch(born):
        st.patient_problems.append(
            f"{path}.birthDate: {born!r} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD); age not used"
        )
        return
    try:
        latest = _when(born, f"{path}.birthDate", end=True)
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
    st.used.append(f"{_ref_id(r)}: age {age}, sex {gender or 'not given'}")


# -- Condition --------------------------------------------------------------------------------

_ACTIVE = {"active", "recurrence", "relapse"}
_HISTORY = {"inactive", "remission", "resolved"}
_IGNORED_VERIFICATION = {"entered-in-error", "refuted"}
_UNCONFIRMED = {"unconfirmed", "provisional", "differential"}


def _read_condition(r: dict[str, Any], path: str, st: _State) -> None:
    rid = _ref_id(r)
    verification = _status_codes(r.get("verificationStatus"), f"{path}.verificationStatus")
    if verification & _IGNORED_VERIFICATION:
        st.unused.append(
            f"{rid}: verificationStatus {'/'.join(sorted(verification & _IGNORED_VERIFICATION))}: ignored"
        )
        st.withdrawn.append(rid)
        return
    clinical = _status_codes(r.get("clinicalStatus"), f"{path}.clinicalStatus")
    status = "active"
    why = ""
    if clinical & _HISTORY:
        status, why = "history", f"clinicalStatus {'/'.join(sorted(clinical & _HISTORY))}"
    elif not clinical:
        why = "no clinicalStatus: read as active"
    abated = _abatement(r, path)
    if abated is not None and abated <= st.as_of and status == "active":
        status, why = "history", f"abated {_day(abated)}"
    elif r.get("abatementString") or r.get("abatementBoolean"):
        status, why = "history", "abated"
    if verification & _UNCONFIRMED and status == "active":
        status, why = (
            "unconfirmed",
            f"verificationStatus {'/'.join(sorted(verification & _UNCONFIRMED))}",
        )
    onset = (
        _when(r.get("onsetDateTime"), f"{path}.onsetDateTime")
        or _when((r.get("onsetPeriod") or {}).get("start"), f"{path}.onsetPeriod.start")
        or _when(r.get("recordedDate"), f"{path}.recordedDate")
    )
    e = _entry(
        r.get("code"),
        f"{path}.code",
        status=status,
        date=onset.date() if onset else None,
        source=f"{rid}, {status}{', ' + why if why else ''}, {_day(onset)}",
        resource=rid if "/" in rid else None,
    )
    if e is None:
        st.unused.append(f"{rid}: no code and no text: not used")
        return
    st.conditions.append(e)


def _abatement(r: dict[str, Any], path: str) -> datetime | None:
    t = _when(r.get("abatementDateTime"), f"{path}.abatementDateTime")
    if t is None and isinstance(r.get("abatementPeriod"), dict):
        p = r["abatementPeriod"]
        t = _when(p.get("end") or p.get("start"), f"{path}.abatementPeriod")
    if t is None and (r.get("abatementAge") or r.get("abatementRange")):
        return datetime.min.replace(tzinfo=UTC)  # abated at an age: in the past
    return t


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


def _medication_concept(r: dict[str, Any], path: str, st: _State) -> tuple[Any, str] | None:
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


def _read_medication(r: dict[str, Any], path: str, st: _State) -> None:
    kind = r["resourceType"]
    rid = _ref_id(r)
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
    found = _medication_concept(r, path, st)
    if found is None:
        st.unused.append(f"{rid}: no medicationCodeableConcept or medicationReference: not used")
        return
    concept, via = found
    start, end = _medication_times(r, path)
    text = (_text(concept) or "").lower()
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
        desc += f", last {_day(last) if when else 'date not given'}"
    if effect and kind == "MedicationAdministration":
        desc += f", acts {effect:g} days"
    if via != "medicationCodeableConcept":
        desc += f", via {via}"
    e = _entry(
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
        start = _when(r.get("authoredOn"), f"{path}.authoredOn")
        dr = r.get("dispenseRequest") if isinstance(r.get("dispenseRequest"), dict) else {}
        vp = dr.get("validityPeriod") if isinstance(dr.get("validityPeriod"), dict) else {}
        end = _when(vp.get("end"), f"{path}.dispenseRequest.validityPeriod.end", end=True)
        return start, end
    if kind == "MedicationDispense":
        t = _when(r.get("whenHandedOver"), f"{path}.whenHandedOver") or _when(
            r.get("whenPrepared"), f"{path}.whenPrepared"
        )
        return t, None
    single = _when(r.get("effectiveDateTime"), f"{path}.effectiveDateTime")
    if single is not None:
        return single, single
    p = r.get("effectivePeriod")
    if isinstance(p, dict):
        return (
            _when(p.get("start"), f"{path}.effectivePeriod.start"),
            _when(p.get("end"), f"{path}.effectivePeriod.end", end=True),
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
            _text((r.get("dosage") or {}).get("route"))
            if isinstance(r.get("dosage"), dict)
            else None
        )
        if route and any(n in text for n in names) and any(f in route.lower() for f in la.forms):
            return la.effect_days
    return None


# -- AllergyIntolerance -----------------------------------------------------------------------


def _read_allergy(r: dict[str, Any], path: str, st: _State) -> None:
    rid = _ref_id(r)
    verification = _status_codes(r.get("verificationStatus"), f"{path}.verificationStatus")
    clinical = _status_codes(r.get("clinicalStatus"), f"{path}.clinicalStatus")
    if st.allergies is None:
        st.allergies = []  # the record holds an allergy list
    if verification & {"entered-in-error", "refuted"}:
        st.unused.append(f"{rid}: verificationStatus {'/'.join(sorted(verification))}: ignored")
        st.withdrawn.append(rid)
        return
    if clinical & {"inactive", "resolved"}:
        st.unused.append(f"{rid}: clinicalStatus {'/'.join(sorted(clinical))}: not used")
        return
    status = "unconfirmed" if verification & {"unconfirmed", "presumed"} else "active"
    concepts = [(r.get("code"), f"{path}.code")]
    for i, reaction in enumerate(r.get("reaction") or []):
        if isinstance(reaction, dict) and reaction.get("substance") is not None:
            concepts.append((reaction["substance"], f"{path}.reaction[{i}].substance"))
    added = False
    for concept, p in concepts:
        e = _entry(
            concept,
            p,
            status=status,
            source=f"{rid}, {status}",
            resource=rid if "/" in rid else None,
        )
        if e is not None:
            if _no_known_allergy(e):
                added = True
                continue
            st.allergies.append(e)
            added = True
    if not added:
        st.unused.append(f"{rid}: no substance code or text: not used")


def _no_known_allergy(e: Entry) -> bool:
    t = (e.text or "").lower()
    return bool(re.search(r"\b(no known (drug )?allerg|nkda|nka)\b", t))


# -- Observation ------------------------------------------------------------------------------


def _obs_time(r: dict[str, Any], path: str) -> datetime | None:
    t = _when(r.get("effectiveDateTime"), f"{path}.effectiveDateTime") or _when(
        r.get("effectiveInstant"), f"{path}.effectiveInstant"
    )
    p = r.get("effectivePeriod")
    if t is None and isinstance(p, dict):
        t = _when(p.get("end"), f"{path}.effectivePeriod.end") or _when(
            p.get("start"), f"{path}.effectivePeriod.start"
        )
    if t is None:
        t = _when(r.get("issued"), f"{path}.issued")
    return t


def _quantity(q: Any, path: str) -> tuple[float, str] | None:
    if q is None:
        return None
    if not isinstance(q, dict):
        raise ElementError(path, "a Quantity must be an object")
    v = q.get("value")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ElementError(f"{path}.value", f"{v!r} is not a number")
    unit = q.get("code") or q.get("unit") or ""
    return float(v), str(unit)


_MMHG = {"mm[hg]", "mmhg", "mm hg", ""}  # LOINC 8480-6/8462-4 are in mm[Hg]; no unit reads as that


def _read_observation(r: dict[str, Any], path: str, st: _State) -> None:
    rid = _ref_id(r)
    cfg = record_reading()
    status = r.get("status")
    codes = _loinc(r.get("code"), f"{path}.code")
    text = (_text(r.get("code")) or "").lower()
    lo = cfg.loinc
    relevant = _fact_of(codes, text)
    if relevant is None:
        st.skipped["Observation"] = st.skipped.get("Observation", 0) + 1
        name = _text(r.get("code")) or ",".join(sorted(codes)) or "?"
        st.skipped_names.setdefault("Observation", {}).setdefault(name, None)
        return
    if status not in cfg.observation_statuses_counted:
        st.unused.append(f"{rid}: {relevant.replace('_', ' ')} with status {status}: not used")
        return
    when = _obs_time(r, path)
    if relevant == "blood_pressure":
        parts: dict[str, float] = {}
        for i, comp in enumerate(r.get("component") or []):
            cc = _loinc(comp.get("code"), f"{path}.component[{i}].code")
            for name, code in (("systolic", lo.systolic), ("diastolic", lo.diastolic)):
                if code in cc:
                    q = _quantity(comp.get("valueQuantity"), f"{path}.component[{i}].valueQuantity")
                    if q is None:
                        continue
                    if q[1].lower() not in _MMHG:
                        raise ElementError(
                            f"{path}.component[{i}].valueQuantity",
                            f"unit {q[1]!r}; raad reads mm[Hg]",
                        )
                    parts[name] = q[0]
        for name, code in (("systolic", lo.systolic), ("diastolic", lo.diastolic)):
            if code in codes and r.get("valueQuantity") is not None:
                q = _quantity(r.get("valueQuantity"), f"{path}.valueQuantity")
                assert q is not None
                if q[1].lower() not in _MMHG:
                    raise ElementError(f"{path}.valueQuantity", f"unit {q[1]!r}; raad reads mm[Hg]")
                parts[name] = q[0]
        if when is None:
            st.unused.append(f"{rid}: blood pressure without an effective time: not used")
            return
        if "systolic" in parts and "diastolic" in parts:
            st.observe("blood_pressure", when, (parts["systolic"], parts["diastolic"]), rid)
        elif parts:
            slot = st.bp_parts.setdefault((when, "pair"), {})
            for k, v in parts.items():
                slot[k] = v
                slot.setdefault("sources", []).append(rid)  # type: ignore[attr-defined]
        else:
            st.unused.append(f"{rid}: blood pressure with no systolic or diastolic value: not used")
        return
    if relevant == "b12_status":
        st.observe("b12_status", when, _b12(r, path, codes), rid)
        return
    if relevant == "pregnancy_status":
        value = _yes_no(
            r,
            path,
            cfg.answers.pregnant + cfg.answers.positive,
            cfg.answers.not_pregnant + cfg.answers.negative,
            yes_words=("pregnant", "positive", "detected"),
            no_words=("not pregnant", "negative", "not detected"),
        )
        st.observe("pregnancy_status", when, value, rid)
        return
    if relevant == "breastfeeding_status":
        value = _yes_no(
            r,
            path,
            cfg.answers.breastfeeding,
            cfg.answers.not_breastfeeding,
            yes_words=("currently breastfeeding", "breastfeeding", "yes"),
            no_words=("not currently breastfeeding", "not breastfeeding", "no"),
        )
        st.observe("breastfeeding_status", when, value, rid)
        return
    if relevant == "opioid_use":
        v = r.get("valueBoolean")
        st.observe("opioid_use", when, v if isinstance(v, bool) else None, rid)


def _fact_of(codes: set[str], text: str) -> str | None:
    lo = record_reading().loinc
    if codes & set(lo.blood_pressure_panels) or lo.systolic in codes or lo.diastolic in codes:
        return "blood_pressure"
    if codes & set(lo.b12_mass + lo.b12_molar) or (
        not codes and ("b12" in text or "cobalamin" in text)
    ):
        return "b12_status"
    if codes & set(lo.pregnancy_status + lo.hcg_presence) or (
        not codes and ("pregnan" in text or "hcg" in text)
    ):
        return "pregnancy_status"
    if codes & set(lo.breastfeeding_status) or (
        not codes and ("breastfeeding" in text or "lactating" in text)
    ):
        return "breastfeeding_status"
    if "opioid use" in text:
        return "opioid_use"
    if "b12" in text or "cobalamin" in text:
        return "b12_status"
    return None


_LOW = {"L", "LL", "LU", "<"}
_NOT_LOW = {"N", "H", "HH", "HU", ">"}


def _b12(r: dict[str, Any], path: str, codes: set[str]) -> str | None:
    interp = set()
    for i, c in enumerate(r.get("interpretation") or []):
        interp |= {k.upper() for _, k in _codes(c, f"{path}.interpretation[{i}]", any_system=True)}
    if interp & _LOW:
        return "low"
    if interp & _NOT_LOW:
        return "normal"
    q = _quantity(r.get("valueQuantity"), f"{path}.valueQuantity")
    ranges = [x for x in (r.get("referenceRange") or []) if isinstance(x, dict) and x.get("low")]
    if q is None or not ranges:
        return None
    low = _quantity(ranges[0]["low"], f"{path}.referenceRange[0].low")
    assert low is not None
    v, lo = _pmol(q, f"{path}.valueQuantity"), _pmol(low, f"{path}.referenceRange[0].low")
    return "low" if v < lo else "normal"


def _pmol(q: tuple[float, str], path: str) -> float:
    """A B12 concentration in pmol/L (pg/mL and ng/L converted with the cited factor)."""
    value, unit = q
    u = unit.strip().lower()
    factor = record_reading().b12_unit.pg_per_ml_per_pmol_per_l
    if u in ("pmol/l",):
        return value
    if u in ("pg/ml", "ng/l"):
        return value / factor
    if u in ("ng/ml", "ug/l"):
        return value * 1000 / factor
    raise ElementError(path, f"unit {unit!r}; raad reads pmol/L, pg/mL, ng/L, ng/mL")


def _yes_no(
    r: dict[str, Any],
    path: str,
    yes: tuple[str, ...],
    no: tuple[str, ...],
    *,
    yes_words: tuple[str, ...],
    no_words: tuple[str, ...],
) -> bool | None:
    v = r.get("valueBoolean")
    if isinstance(v, bool):
        return v
    concept = r.get("valueCodeableConcept")
    if concept is not None:
        coded = {
            f"{system_name(s) or s}={k}" for s, k in _codes(concept, f"{path}.valueCodeableConcept")
        }
        if coded & set(no):
            return False
        if coded & set(yes):
            return True
    text = " ".join(
        x
        for x in (
            _text(concept),
            r.get("valueString") if isinstance(r.get("valueString"), str) else None,
        )
        if x
    ).lower()
    interp = {
        k.upper()
        for c in (r.get("interpretation") or [])
        for _, k in _codes(c, f"{path}.interpretation", any_system=True)
    }
    if any(w in text for w in no_words) or interp & {"NEG", "ND"}:
        return False
    if any(w in text for w in yes_words) or interp & {"POS", "DET"}:
        return True
    return None


def _settle_observations(st: _State, override: dict[str, float]) -> None:
    """Newest reading per fact wins; a fact older than its window is missing, with its date."""
    cfg = record_reading()
    for (when, _), parts in st.bp_parts.items():
        sources = "+".join(parts.pop("sources", []))  # type: ignore[arg-type]
        if "systolic" in parts and "diastolic" in parts:
            st.observe("blood_pressure", when, (parts["systolic"], parts["diastolic"]), sources)
        else:
            have = "systolic" if "systolic" in parts else "diastolic"
            st.unused.append(
                f"{sources}: {have} blood pressure at {when.isoformat()} has no "
                f"{'diastolic' if have == 'systolic' else 'systolic'} reading at the same time: not used"
            )
    for fact, readings in st.observed.items():
        readings.sort(key=lambda o: o.when)
        newest = readings[-1]
        for older in readings[:-1]:
            st.unused.append(
                f"{older.source}: {fact.replace('_', ' ')} of {_day(older.when)} superseded by {_day(newest.when)}"
            )
        window = override.get(fact)
        if window is None and fact in cfg.freshness_days:
            window = cfg.freshness_days[fact].days
        age_days = (st.as_of - newest.when).total_seconds() / 86400
        need = {
            "b12_status": "b12_status",
            "pregnancy_status": "pregnancy_status",
            "breastfeeding_status": "breastfeeding_status",
            "blood_pressure": "blood_pressure",
        }.get(fact)
        if newest.when > st.as_of + timedelta(days=1):
            st.problems.append(
                f"{newest.source}: {fact.replace('_', ' ')} dated {_day(newest.when)}, after {st.as_of.date()}: not used"
            )
            continue
        if window is not None and age_days > window:
            if need:
                st.facts.setdefault("fact_notes", {})[need] = (
                    f"the latest, {_day(newest.when)} ({newest.source}), is older than {window:g} days"
                )
            st.unused.append(
                f"{newest.source}: {fact.replace('_', ' ')} of {_day(newest.when)} is older than {window:g} days: not used"
            )
            continue
        if newest.value is None:
            if need:
                st.facts.setdefault("fact_notes", {})[need] = (
                    f"{newest.source} of {_day(newest.when)} has a value raad cannot read"
                )
            st.unused.append(
                f"{newest.source}: {fact.replace('_', ' ')} with a value raad cannot read (no flag, reference range or known answer): not used"
            )
            continue
        src = f"{newest.source}, {_day(newest.when)}"
        sources = st.facts.setdefault("fact_sources", {})
        if fact == "blood_pressure":
            st.facts["systolic_mmhg"], st.facts["diastolic_mmhg"] = newest.value
            sources["systolic_mmhg"] = sources["diastolic_mmhg"] = src
        elif fact == "pregnancy_status":
            st.facts["pregnant"] = newest.value
            sources["pregnant"] = src
        elif fact == "breastfeeding_status":
            st.facts["breastfeeding"] = newest.value
            sources["breastfeeding"] = src
        else:
            st.facts[fact] = newest.value
            sources[fact] = src
        st.used.append(f"{src}: {fact.replace('_', ' ')} = {newest.value}")


def medication_entry(r: dict[str, Any], path: str) -> Entry | None:
    """The medicine of one order or statement as a current medication entry (a CDS Hooks draft
    order: ``medicationCodeableConcept`` or a contained ``medicationReference``)."""
    st = _State(as_of=datetime.now(UTC), facts={})
    found = _medication_concept(r, path, st)
    if found is None:
        return None
    concept, via = found
    return _entry(concept, f"{path}.{via}", status="current", source=f"{_ref_id(r)}, draft order")


def read_resources(resources: Iterable[dict[str, Any]], *, as_of: date | datetime) -> BundleRead:
    """``read_bundle`` for resources not wrapped in a Bundle (NDJSON lines, CDS prefetch)."""
    return read_bundle(list(resources), as_of=as_of)
