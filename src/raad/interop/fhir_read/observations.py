"""Observations: status, the newest reading, freshness windows, blood pressure, B12,
pregnancy and breastfeeding."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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
from .state import ReadState

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
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ElementError(f"{path}.value", f"{v!r} is not a number")
    unit = q.get("code") or q.get("unit") or ""
    return float(v), str(unit)


_MMHG = {"mm[hg]", "mmhg", "mm hg", ""}  # LOINC 8480-6/8462-4 are in mm[Hg]; no unit reads as that


def read_observation(r: dict[str, Any], path: str, st: ReadState) -> None:
    rid = ref_id(r)
    cfg = record_reading()
    status = r.get("status")
    codes = loinc_codes(r.get("code"), f"{path}.code")
    text = (text_of(r.get("code")) or "").lower()
    lo = cfg.loinc
    relevant = _fact_of(codes, text)
    if relevant is None:
        st.skipped["Observation"] = st.skipped.get("Observation", 0) + 1
        name = text_of(r.get("code")) or ",".join(sorted(codes)) or "?"
        st.skipped_names.setdefault("Observation", {}).setdefault(name, None)
        return
    if status not in cfg.observation_statuses_counted:
        st.unused.append(f"{rid}: {relevant.replace('_', ' ')} with status {status}: not used")
        return
    when = _obs_time(r, path)
    if relevant == "blood_pressure":
        parts: dict[str, float] = {}
        for i, comp in enumerate(r.get("component") or []):
            cc = loinc_codes(comp.get("code"), f"{path}.component[{i}].code")
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
            f"{system_name(s) or s}={k}"
            for s, k in codings_of(concept, f"{path}.valueCodeableConcept")
        }
        if coded & set(no):
            return False
        if coded & set(yes):
            return True
    text = " ".join(
        x
        for x in (
            text_of(concept),
            r.get("valueString") if isinstance(r.get("valueString"), str) else None,
        )
        if x
    ).lower()
    interp = {
        k.upper()
        for c in (r.get("interpretation") or [])
        for _, k in codings_of(c, f"{path}.interpretation", any_system=True)
    }
    if any(w in text for w in no_words) or interp & {"NEG", "ND"}:
        return False
    if any(w in text for w in yes_words) or interp & {"POS", "DET"}:
        return True
    return None


def settle_observations(st: ReadState, override: dict[str, float]) -> None:
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
                f"{older.source}: {fact.replace('_', ' ')} of {day_of(older.when)} superseded by {day_of(newest.when)}"
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
                f"{newest.source}: {fact.replace('_', ' ')} dated {day_of(newest.when)}, after {st.as_of.date()}: not used"
            )
            continue
        if window is not None and age_days > window:
            if need:
                st.facts.setdefault("fact_notes", {})[need] = (
                    f"the latest, {day_of(newest.when)} ({newest.source}), is older than {window:g} days"
                )
            st.unused.append(
                f"{newest.source}: {fact.replace('_', ' ')} of {day_of(newest.when)} is older than {window:g} days: not used"
            )
            continue
        if newest.value is None:
            if need:
                st.facts.setdefault("fact_notes", {})[need] = (
                    f"{newest.source} of {day_of(newest.when)} has a value raad cannot read"
                )
            st.unused.append(
                f"{newest.source}: {fact.replace('_', ' ')} with a value raad cannot read (no flag, reference range or known answer): not used"
            )
            continue
        src = f"{newest.source}, {day_of(newest.when)}"
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
