"""Observations: status, the newest reading, freshness windows, blood pressure, B12,
pregnancy and breastfeeding."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from raad.clinical.errors import ClinicalInputError
from raad.clinical.safety import BloodPressure
from raad.clinical.text_context import norm
from raad.knowledge.codes import system_name
from raad.knowledge.record_reading import record_reading

from .datatypes import (
    ElementError,
    codings_of,
    day_of,
    fhir_time,
    loinc_codes,
    ref_id,
    text_of,
)
from .state import Observed, ReadState

# -- Observation ------------------------------------------------------------------------------


def _obs_time(r: dict[str, Any], path: str) -> datetime | None:
    t = fhir_time(r.get("effectiveDateTime"), f"{path}.effectiveDateTime") or fhir_time(
        r.get("effectiveInstant"), f"{path}.effectiveInstant"
    )
    p = r.get("effectivePeriod")
    if t is None and isinstance(p, dict):
        t = fhir_time(p.get("end"), f"{path}.effectivePeriod.end") or fhir_time(
            p.get("start"), f"{path}.effectivePeriod.start"
        )
    if t is None:
        t = fhir_time(r.get("issued"), f"{path}.issued")
    return t


def _quantity(q: Any, path: str) -> tuple[float, str] | None:
    if q is None:
        return None
    if not isinstance(q, dict):
        raise ElementError(path, "a Quantity must be an object")
    v = q.get("value")
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ElementError(f"{path}.value", f"{v!r} is not a finite number")
    unit = q.get("code") or q.get("unit") or ""
    return float(v), str(unit)


_MMHG = {"mm[hg]", "mmhg", "mm hg", ""}  # LOINC 8480-6/8462-4 are in mm[Hg]; no unit reads as that


def read_observation(r: dict[str, Any], path: str, st: ReadState) -> None:
    rid = ref_id(r)
    cfg = record_reading()
    status = r.get("status")
    codes = loinc_codes(r.get("code"), f"{path}.code")
    text = (text_of(r.get("code")) or "").lower()
    relevant = _fact_of(codes, text)
    if relevant is None:
        st.skipped["Observation"] = st.skipped.get("Observation", 0) + 1
        name = text_of(r.get("code")) or ",".join(sorted(codes)) or "?"
        st.skipped_names.setdefault("Observation", {}).setdefault(name[:80], None)
        return
    if status not in cfg.observation_statuses_counted:
        st.unused.append(f"{rid}: {relevant.replace('_', ' ')} with status {status}: not used")
        return
    when = _obs_time(r, path)
    if when is None:
        st.unused.append(f"{rid}: {relevant.replace('_', ' ')} without an effective time: not used")
        return
    try:
        if relevant == "blood_pressure":
            _blood_pressure(r, path, codes, when, rid, st)
            return
        if relevant == "b12_status":
            value: Any = _b12(r, path)
        elif relevant == "pregnancy_status":
            value = _answer(r, path, "pregnancy")
        elif relevant == "breastfeeding_status":
            value = _answer(r, path, "breastfeeding")
        else:
            v = r.get("valueBoolean")
            value = v if isinstance(v, bool) else None
    except ElementError as exc:
        st.problems.append(str(exc))
        value = None  # an unreadable reading: it still counts as the newest, as unknown
    st.observe(relevant, when, value, rid)


def _blood_pressure(
    r: dict[str, Any], path: str, codes: set[str], when: datetime, rid: str, st: ReadState
) -> None:
    lo = record_reading().loinc
    parts: dict[str, float] = {}
    try:
        for i, comp in enumerate(r.get("component") or []):
            if not isinstance(comp, dict):
                continue
            cc = loinc_codes(comp.get("code"), f"{path}.component[{i}].code")
            for name, code in (("systolic", lo.systolic), ("diastolic", lo.diastolic)):
                if code in cc:
                    q = _mmhg(comp.get("valueQuantity"), f"{path}.component[{i}].valueQuantity")
                    if q is not None:
                        parts[name] = q
        for name, code in (("systolic", lo.systolic), ("diastolic", lo.diastolic)):
            if code in codes and r.get("valueQuantity") is not None:
                q = _mmhg(r.get("valueQuantity"), f"{path}.valueQuantity")
                if q is not None:
                    parts[name] = q
    except ElementError as exc:
        st.problems.append(str(exc))
        st.observe("blood_pressure", when, None, rid)
        return
    if "systolic" in parts and "diastolic" in parts:
        st.observe("blood_pressure", when, _plausible(parts, rid, st), rid)
    elif parts:
        slot = st.bp_parts.setdefault((when, "pair"), {})
        for k, v in parts.items():
            slot[k] = v
        slot.setdefault("sources", []).append(rid)  # type: ignore[attr-defined]
    else:
        st.observe("blood_pressure", when, None, rid)
        st.unused.append(f"{rid}: blood pressure with no systolic or diastolic value")


def _plausible(parts: dict[str, float], rid: str, st: ReadState) -> tuple[float, float] | None:
    """The reading, or None (unreadable) when it is outside raad's plausible ranges."""
    try:
        BloodPressure(parts["systolic"], parts["diastolic"])
    except ClinicalInputError as exc:
        st.problems.append(f"{rid}: blood pressure {exc.value} is implausible ({exc.allowed})")
        return None
    return parts["systolic"], parts["diastolic"]


def _mmhg(q: Any, path: str) -> float | None:
    value = _quantity(q, path)
    if value is None:
        return None
    if value[1].lower() not in _MMHG:
        raise ElementError(path, f"unit {value[1]!r}; raad reads mm[Hg]")
    return value[0]


def _fact_of(codes: set[str], text: str) -> str | None:
    """Which screening fact an Observation gives: by LOINC code; by its name only when it
    carries no LOINC code (a coded Observation is what its code says)."""
    lo = record_reading().loinc
    if codes & set(lo.blood_pressure_panels) or lo.systolic in codes or lo.diastolic in codes:
        return "blood_pressure"
    if codes & set(lo.b12_mass + lo.b12_molar):
        return "b12_status"
    if codes & set(lo.pregnancy_status + lo.hcg_presence):
        return "pregnancy_status"
    if codes & set(lo.breastfeeding_status):
        return "breastfeeding_status"
    if codes:
        return None
    words = norm(text)
    if " opioid use " in words:
        return "opioid_use"
    if (" b12 " in words or " cobalamin " in words) and " binding " not in words:
        return "b12_status"
    if " pregnancy " in words or " pregnant " in words or " hcg " in words:
        return "pregnancy_status"
    if " breastfeeding " in words or " lactating " in words:
        return "breastfeeding_status"
    return None


_LOW = {"L", "LL", "LU"}
_NOT_LOW = {"N", "H", "HH", "HU"}


def _b12(r: dict[str, Any], path: str) -> str | None:
    """'low' / 'normal' by the laboratory's flag, else by the report's own reference range
    (units converted; a '<' or '>' result decides only when its bound does), else None."""
    interp = set()
    for i, c in enumerate(r.get("interpretation") or []):
        interp |= {
            k.upper() for _, k in codings_of(c, f"{path}.interpretation[{i}]", any_system=True)
        }
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
    comparator = (r.get("valueQuantity") or {}).get("comparator")
    if comparator in ("<", "<="):
        return "low" if v <= lo else None  # below a bound above the range's low: undecided
    if comparator in (">", ">="):
        return "normal" if v >= lo else None
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


# Words of an answer, matched as whole words after the coded answers (knowledge answers:)
_ANSWER_WORDS = {
    "pregnancy": {
        "unknown": (
            " unknown ",
            " not asked ",
            " unsure ",
            " possible ",
            " indeterminate ",
            " equivocal ",
        ),
        "no": (" not pregnant ", " negative ", " not detected ", " neg "),
        "yes": (" pregnant ", " positive ", " detected ", " pos "),
    },
    "breastfeeding": {
        "unknown": (" unknown ", " not asked ", " unsure ", " declined to answer "),
        "no": (" not currently breastfeeding ", " not breastfeeding ", " no "),
        "yes": (" currently breastfeeding ", " breastfeeding ", " yes ", " nursing "),
    },
}


def _answer(r: dict[str, Any], path: str, what: str) -> bool | None:
    """A yes/no Observation (pregnancy status, hCG, breastfeeding): coded answers first, then
    whole words; 'unknown' and 'not asked' are None, never 'no'."""
    answers = record_reading().answers
    yes, no = (
        (answers.pregnant + answers.positive, answers.not_pregnant + answers.negative)
        if what == "pregnancy"
        else (answers.breastfeeding, answers.not_breastfeeding)
    )
    v = r.get("valueBoolean")
    if isinstance(v, bool):
        return v
    concept = r.get("valueCodeableConcept")
    if concept is not None:
        coded = {
            f"{system_name(s) or s}={k}"
            for s, k in codings_of(concept, f"{path}.valueCodeableConcept")
        }
        if coded & set(answers.unknown):
            return None
        if coded & set(no):
            return False
        if coded & set(yes):
            return True
    text = norm(
        " ".join(
            x
            for x in (
                text_of(concept),
                r.get("valueString") if isinstance(r.get("valueString"), str) else None,
            )
            if x
        )
    )
    interp = {
        k.upper()
        for c in (r.get("interpretation") or [])
        for _, k in codings_of(c, f"{path}.interpretation", any_system=True)
    }
    words = _ANSWER_WORDS[what]
    if any(w in text for w in words["unknown"]):
        return None
    if any(w in text for w in words["no"]) or interp & {"NEG", "ND"}:
        return False
    if any(w in text for w in words["yes"]) or interp & {"POS", "DET"}:
        return True
    return None


# Same-day readings that disagree: the one that matters more for safety is used.
_WORST: dict[str, Any] = {
    "pregnancy_status": (True, None, False),
    "breastfeeding_status": (True, None, False),
    "b12_status": ("low", None, "normal"),
    "opioid_use": (True, None, False),
}


def _settle_one(fact: str, readings: list[Observed], st: ReadState) -> Observed:
    """The reading that decides a fact: the newest; if the newest cannot be read the fact is
    unknown; readings on the newest reading's day that disagree give the worse value (blood
    pressure: readings at the very same time give the higher of each value)."""
    readings.sort(key=lambda o: o.when)
    newest = readings[-1]
    if newest.value is None:
        return newest
    if fact == "blood_pressure":
        same = [o for o in readings if o.when == newest.when and o.value is not None]
        if len(same) > 1:
            worst = (max(o.value[0] for o in same), max(o.value[1] for o in same))
            st.problems.append(
                f"{'+'.join(o.source for o in same)}: {len(same)} blood pressures at the same "
                f"time; the higher values {worst[0]:g}/{worst[1]:g} are used"
            )
            return Observed(newest.when, worst, "+".join(o.source for o in same))
        return newest
    day = newest.when.date()
    same_day = [o for o in readings if o.when.date() == day]
    values = {o.value for o in same_day}
    if len(values) > 1:
        order = _WORST[fact]
        pick = next(v for v in order if v in values)
        chosen = next(o for o in same_day if o.value == pick)
        st.problems.append(
            f"{'+'.join(o.source for o in same_day)}: {fact.replace('_', ' ')} readings on "
            f"{day.isoformat()} disagree; the safer reading ({chosen.source}) is used"
        )
        return chosen
    return newest


def settle_observations(st: ReadState, override: dict[str, float]) -> None:
    """Per fact, the deciding reading (``_settle_one``); a fact older than its window, or whose
    newest reading cannot be read, is missing with its date and why."""
    cfg = record_reading()
    for (when, _), parts in st.bp_parts.items():
        sources = "+".join(parts.pop("sources", []))  # type: ignore[arg-type]
        if "systolic" in parts and "diastolic" in parts:
            st.observe("blood_pressure", when, _plausible(parts, sources, st), sources)
        else:
            have = "systolic" if "systolic" in parts else "diastolic"
            st.unused.append(
                f"{sources}: {have} blood pressure at {when.isoformat()} has no "
                f"{'diastolic' if have == 'systolic' else 'systolic'} reading at the same time"
            )
            st.observe("blood_pressure", when, None, sources)
    for fact, readings in st.observed.items():
        limit = st.as_of + timedelta(days=1)
        for o in readings:
            if o.when > limit:
                st.problems.append(
                    f"{o.source}: {fact.replace('_', ' ')} dated {day_of(o.when)}, after {st.as_of.date()}: not used"
                )
        readings = [o for o in readings if o.when <= limit]
        if not readings:
            continue
        decided = _settle_one(fact, readings, st)
        older = [o for o in readings if o.when < decided.when]
        if older:
            st.unused.append(
                f"{len(older)} older {fact.replace('_', ' ')} reading{'s' if len(older) > 1 else ''} "
                f"({day_of(older[0].when)} to {day_of(older[-1].when)}) superseded by "
                f"{day_of(decided.when)}"
            )
        window = override.get(fact)
        if window is None and fact in cfg.freshness_days:
            window = cfg.freshness_days[fact].days
        age_days = (st.as_of - decided.when).total_seconds() / 86400
        need = fact if fact != "opioid_use" else None
        if window is not None and age_days > window:
            if need:
                st.facts.setdefault("fact_notes", {})[need] = (
                    f"the latest, {day_of(decided.when)} ({decided.source}), is older than {window:g} days"
                )
            st.unused.append(
                f"{decided.source}: {fact.replace('_', ' ')} of {day_of(decided.when)} is older than {window:g} days: not used"
            )
            continue
        if decided.value is None:
            if need:
                st.facts.setdefault("fact_notes", {})[need] = (
                    f"the latest, {day_of(decided.when)} ({decided.source}), cannot be read"
                )
            st.unused.append(
                f"{decided.source}: the latest {fact.replace('_', ' ')} ({day_of(decided.when)}) "
                "cannot be read (no flag, reference range, known answer or usable value): "
                "the fact is missing; older readings are not used in its place"
            )
            continue
        src = f"{decided.source}, {day_of(decided.when)}"
        sources = st.facts.setdefault("fact_sources", {})
        dates = st.facts.setdefault("fact_dates", {})
        keys = {
            "blood_pressure": ("systolic_mmhg", "diastolic_mmhg"),
            "pregnancy_status": ("pregnant",),
            "breastfeeding_status": ("breastfeeding",),
        }.get(fact, (fact,))
        values = decided.value if fact == "blood_pressure" else (decided.value,)
        for key, value in zip(keys, values, strict=True):
            st.facts[key] = value
            sources[key] = src
            dates[key] = decided.when.date().isoformat()
        shown = f"{values[0]:g}/{values[1]:g} mmHg" if fact == "blood_pressure" else decided.value
        st.used.append(f"{src}: {fact.replace('_', ' ')} = {shown}")
