"""Screening: which rapid-acting agents a patient may have, and why.

``screen(facts, as_of=...)`` applies the cited rules of ``knowledge/contraindications.yaml`` and
the pre-dose blood-pressure rules of ``knowledge/monitoring.yaml`` to the patient's conditions,
medications, allergies and findings (``raad.clinical.facts.PatientFacts``). Per agent it gives
``contraindicated | caution | eligible`` with the reasons, the facts (and the records they came
from) that triggered them and their sources.

Never assumed normal: facts a rule needs but the record lacks are listed as ``missing``, and a
medicine whose status is unknown, or that was stopped on an unknown date inside a rule's window,
is asked about; an agent with anything missing is never ``eligible`` (at most ``caution``).
Entries that match no rule's concept are returned as ``unrecognised``; entries that name a
concept only to deny it ("no history of stroke", "family history of stroke") are returned as
``not_counted`` with the reason, so nothing a clinician entered is silently dropped.

How entries match (docs/clinical-codes.md):

1. codes first. ICD-10-CM, WHO ICD-10 and ATC are matched by prefix against value sets written
   for the whole classification, so a code in those systems decides on its own; SNOMED CT and
   RxNorm are matched exactly (RxNorm products are rolled up to their ingredients), and an
   unknown code there falls back to the entry's text;
2. text last, as whole words, with negation and context (``raad.clinical.text_context``).
   Condition entries match condition concepts, medication entries medicine concepts; an
   allergy named in either list ("allergy to ketamine") is an allergy, never use of the drug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from typing import Any, Literal

from raad.knowledge.codes import PREFIX_SYSTEMS, normalise_code, system_name
from raad.knowledge.record_reading import record_reading
from raad.knowledge.screening_rules import Rule
from raad.knowledge.treatment import (
    contraindications,
    knowledge_version,
    monitoring,
    regimens,
)

from . import text_context
from .facts import Entry, PatientFacts
from .safety import BloodPressure

__all__ = [
    "AGENTS",
    "AgentScreen",
    "Entry",
    "PatientFacts",
    "Reason",
    "Screening",
    "entry_concepts",
    "screen",
]

Status = Literal["contraindicated", "caution", "eligible"]
AGENTS = ("n2o", "ketamine", "esketamine", "naltrexone")
MISSING_TEXT = {
    "b12_status": "vitamin B12 status (a B12 result or a known deficiency)",
    "pregnancy_status": "pregnancy status",
    "breastfeeding_status": "breastfeeding status",
    "blood_pressure": "a resting blood pressure",
    "opioid_status": "current opioid use (yes/no)",
    "age": "age (date of birth)",
    "allergies": "allergies (the list, or 'none known')",
}
# Systems whose value sets in raad cover the whole classification (prefix matching): a code in
# one of them decides, and its display text is not read.
DECIDING_SYSTEMS = PREFIX_SYSTEMS
Kind = Literal["condition", "medication", "allergy"]


@dataclass(frozen=True)
class Reason:
    level: Literal["contraindicated", "caution", "missing"]
    text: str
    facts: tuple[str, ...]
    sources: tuple[str, ...]
    rule: str | None = None  # the rule's trigger ("pneumothorax", "allergy to ketamine")

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "text": self.text,
            "facts": list(self.facts),
            "sources": list(self.sources),
            "rule": self.rule,
        }


@dataclass(frozen=True)
class AgentScreen:
    agent: str
    status: Status
    reasons: tuple[Reason, ...]
    missing: tuple[str, ...]
    regimens: dict[str, Status] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reasons": [r.to_dict() for r in self.reasons],
            "missing": list(self.missing),
            "regimens": dict(self.regimens),
        }


@dataclass(frozen=True)
class Screening:
    agents: dict[str, AgentScreen]
    unrecognised: tuple[str, ...]
    knowledge_version: str
    not_counted: tuple[str, ...] = ()
    as_of: date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agents": {k: v.to_dict() for k, v in self.agents.items()},
            "unrecognised": list(self.unrecognised),
            "not_counted": list(self.not_counted),
            "knowledge_version": self.knowledge_version,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }

    def __str__(self) -> str:
        lines = [
            f"Screening (knowledge {self.knowledge_version}); raad supports clinical "
            "judgement and never replaces it.",
            "",
        ]
        for a in self.agents.values():
            lines.append(f"{a.agent:<11} {a.status.upper()}")
            for r in a.reasons:
                facts = f" (facts: {', '.join(r.facts)})" if r.facts else ""
                src = f"  [{', '.join(r.sources)}]" if r.sources else ""
                lines.append(f"    - [{r.level}] {r.text}{facts}{src}")
        if self.unrecognised:
            lines += [
                "",
                "Not recognised by any rule (check them yourself): " + "; ".join(self.unrecognised),
            ]
        if self.not_counted:
            lines += ["", "Named but not counted: " + "; ".join(self.not_counted)]
        return "\n".join(lines)


# -- the knowledge base, indexed once ---------------------------------------------------------


@cache
def _closure() -> dict[str, frozenset[str]]:
    """Every medicine concept -> itself and every class containing it (transitively)."""
    ci = contraindications()
    out: dict[str, frozenset[str]] = {}
    for name in ci.medications:
        found = {name}
        changed = True
        while changed:
            changed = False
            for cname, cls in ci.classes.items():
                if cname not in found and (
                    any(m in found for m in cls.members) or any(i in found for i in cls.includes)
                ):
                    found.add(cname)
                    changed = True
        out[name] = frozenset(found)
    return out


@cache
def _aliases(kind: Literal["condition", "medication"]) -> tuple[tuple[str, str], ...]:
    ci = contraindications()
    out: list[tuple[str, str]] = []
    if kind == "condition":
        for name, c in ci.conditions.items():
            out += [(name, text_context.norm(a)) for a in c.aliases]
    else:
        for name, s in ci.substances.items():
            out += [(name, text_context.norm(a)) for a in s.names]
        for name, k in ci.classes.items():
            out += [(name, text_context.norm(a)) for a in k.aliases]
    return tuple(out)


CodeKey = tuple[str, str, bool]  # system, normalised code, exact


@cache
def _code_index() -> tuple[dict[CodeKey, tuple[tuple[str, str], ...]], dict[str, tuple[int, ...]]]:
    """(concept, status-if-matched) pairs by code, and per system the lengths of its prefixes.
    A condition's history code maps to ``history``; every other code to ``None`` (the entry's
    own status stands)."""
    ci = contraindications()
    table: dict[CodeKey, set[tuple[str, str]]] = {}

    def add(name: str, refs: Any, status: str) -> None:
        for ref in refs:
            table.setdefault((ref.system, ref.code, ref.exact), set()).add((name, status))

    for name, c in ci.conditions.items():
        add(name, c.code_refs, "")
        add(name, c.history_refs, "history")
    for name, s in ci.substances.items():
        add(name, s.code_refs, "")
    for name, k in ci.classes.items():
        add(name, k.code_refs, "")
    from raad.knowledge.codes import parse_code

    for p in ci.products:
        ref = parse_code(p.code)
        for ing in p.ingredients:
            table.setdefault((ref.system, ref.code, True), set()).add((ing, ""))
    lengths: dict[str, set[int]] = {}
    for system, code, exact in table:
        if not exact:
            lengths.setdefault(system, set()).add(len(code))
    return (
        {k: tuple(sorted(v)) for k, v in table.items()},
        {s: tuple(sorted(n)) for s, n in lengths.items()},
    )


@lru_cache(maxsize=65_536)
def code_matches(system: str, code: str) -> tuple[tuple[str, str], ...]:
    """(concept, status) pairs a code reaches: the exact code, or a prefix code starting it
    (dots and case ignored). The most specific prefix decides a concept's status, so
    ``F11.21`` (in remission) reads as history although ``F11.2`` also matches."""
    table, lengths = _code_index()
    code = normalise_code(code)
    found: dict[str, str] = {}
    for n in lengths.get(system, ()):
        if n > len(code):
            break
        for name, status in table.get((system, code[:n], False), ()):
            found[name] = status  # longer prefixes come later and win
    for name, status in table.get((system, code, True), ()):
        found[name] = status
    return tuple(found.items())


# -- reading entries --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    concept: str
    status: str
    fact: str
    date: date | None


def _closure_of(name: str, kind: Kind) -> frozenset[str]:
    return _closure().get(name, frozenset({name})) if kind != "condition" else frozenset({name})


@lru_cache(maxsize=65_536)
def _read_text(
    text: str, kind: Literal["condition", "medication"]
) -> tuple[tuple[text_context.Mention, ...], tuple[text_context.Mention, ...]]:
    """Mentions of ``kind`` concepts and mentions of allergies (to medicines) in ``text``."""
    own = text_context.find(text, _aliases(kind))
    allergy = tuple(
        m for m in text_context.find(text, _aliases("medication")) if m.context == "allergy"
    )
    if kind == "medication":
        own = tuple(m for m in own if m.context != "allergy")
    return own, allergy


_CTX_STATUS = {"historical": "history", "uncertain": "unconfirmed"}


def _read_entry(entry: Entry, kind: Kind) -> tuple[list[_Hit], list[_Hit], str | None, str | None]:
    """(concept hits, allergy hits, unrecognised description, not-counted description)."""
    desc = entry.describe()
    own_status = entry.status_as(kind)
    hits: list[_Hit] = []
    allergies: list[_Hit] = []
    deciding = False
    for sys_raw, code in entry.all_codings():
        system = system_name(sys_raw)
        if system is None:
            continue
        deciding |= system in DECIDING_SYSTEMS
        for name, status in code_matches(system, code):
            ci = contraindications()
            is_condition = name in ci.conditions
            if kind == "allergy":
                if not is_condition:
                    allergies += [
                        _Hit(c, own_status, desc, entry.date)
                        for c in _closure_of(name, "medication")
                    ]
                continue
            if (kind == "condition") != is_condition:
                continue
            st = "history" if status == "history" and own_status == "active" else own_status
            hits += [_Hit(c, st, desc, entry.date) for c in _closure_of(name, kind)]
    if hits or allergies or deciding or not entry.text:
        if not hits and not allergies:
            return [], [], desc, None
        return hits, allergies, None, None
    # text, last: the entry has no code, or codes in systems raad cannot decide on
    text_kind: Literal["condition", "medication"] = "medication" if kind == "allergy" else kind
    own, allergy_mentions = _read_text(entry.text, text_kind)
    denied: list[str] = []
    if kind == "allergy":
        for m in own:
            if m.context in ("negated", "family"):
                denied.append(f"{m.concept} ({m.trigger})")
                continue
            allergies += [
                _Hit(c, own_status, desc, entry.date) for c in _closure_of(m.concept, "medication")
            ]
    else:
        for m in own:
            if m.context in ("negated", "family"):
                denied.append(f"{m.concept}: '{m.trigger}'")
                continue
            st = _CTX_STATUS.get(m.context, own_status)
            if kind == "medication" and st == "history":
                st = "past" if own_status in ("current", "unknown") else own_status
            if kind == "medication" and st == "unconfirmed":
                st = "unknown"
            via = f"{desc} (by its text)" if entry.all_codings() else desc
            hits += [_Hit(c, st, via, entry.date) for c in _closure_of(m.concept, kind)]
        for m in allergy_mentions:
            allergies += [
                _Hit(c, "active", desc, entry.date) for c in _closure_of(m.concept, "medication")
            ]
    if not hits and not allergies:
        if denied:
            return [], [], None, f"{desc} - {', '.join(denied)}"
        return [], [], desc, None
    return hits, allergies, None, None


# -- screening --------------------------------------------------------------------------------


def screen(facts: PatientFacts | dict[str, Any], *, as_of: date | None = None) -> Screening:
    """Screen a patient for every agent (see the module docstring). ``as_of`` is the date the
    screen is for (default: today, UTC): a medicine stopped inside a rule's window counts."""
    if not isinstance(facts, PatientFacts):
        facts = PatientFacts.parse(facts)
    today = as_of or datetime.now(UTC).date()
    facts = _fresh(facts, today)
    ci = contraindications()
    present: dict[str, list[_Hit]] = {}
    allergic: dict[str, list[_Hit]] = {}
    unrecognised: list[str] = []
    not_counted: list[str] = []
    lists: tuple[tuple[Kind, list[Entry]], ...] = (
        ("condition", facts.conditions),  # type: ignore[arg-type]
        ("medication", facts.medications),  # type: ignore[arg-type]
        ("allergy", facts.allergies or []),  # type: ignore[arg-type]
    )
    for kind, entries in lists:
        for entry in entries:
            hits, allergies, unknown, denied = _read_entry(entry, kind)
            for h in hits:
                present.setdefault(h.concept, []).append(h)
            for h in allergies:
                allergic.setdefault(h.concept, []).append(h)
            if unknown:
                unrecognised.append(unknown)
            if denied:
                not_counted.append(denied)
    if facts.pregnant:
        present.setdefault("pregnancy", []).append(
            _Hit("pregnancy", "active", _fact(facts, "pregnant", "pregnant: yes"), None)
        )
    if facts.breastfeeding:
        present.setdefault("breastfeeding", []).append(
            _Hit(
                "breastfeeding", "active", _fact(facts, "breastfeeding", "breastfeeding: yes"), None
            )
        )
    if facts.b12_status == "low":
        present.setdefault("b12_deficiency", []).append(
            _Hit("b12_deficiency", "active", _fact(facts, "b12_status", "vitamin B12: low"), None)
        )
    if facts.opioid_use:
        for c in _closure_of("opioid", "medication"):
            present.setdefault(c, []).append(
                _Hit(c, "current", _fact(facts, "opioid_use", "opioid use: yes"), None)
            )
    bp = facts.blood_pressure()
    result = {}
    index = _rule_index()
    for agent in AGENTS:
        rules = ci.rules[agent]
        by_when, by_allergy, by_age = index[agent]
        reasons: list[Reason] = []
        for _, r, src in _triggered(by_when, by_allergy, by_age, present, allergic):
            reasons += _apply(r, src, facts, present, allergic, today)
        reasons += _bp_reasons(agent, bp, facts)
        if facts.deceased:
            reasons.append(
                Reason(
                    "contraindicated",
                    f"The record says the patient has died ({facts.deceased}): check the record",
                    (_fact(facts, "deceased", f"deceased: {facts.deceased}"),),
                    (),
                    "deceased",
                )
            )
        if facts.unread:
            reasons.append(
                Reason(
                    "missing",
                    "Records raad could not read (they may hold a contraindication; check them): "
                    + "; ".join(facts.unread[:UNREAD_SHOWN])
                    + (
                        f"; and {len(facts.unread) - UNREAD_SHOWN} more"
                        if len(facts.unread) > UNREAD_SHOWN
                        else ""
                    ),
                    (),
                    (),
                    "unread records",
                )
            )
        missing = tuple(_missing_text(n, facts) for n in rules.needs if _lacks(n, facts, reasons))
        if missing:
            reasons.append(
                Reason(
                    "missing",
                    "Facts needed before this agent can be judged eligible: " + "; ".join(missing),
                    (),
                    (),
                )
            )
        levels = {r.level for r in reasons}
        status: Status = (
            "contraindicated"
            if "contraindicated" in levels
            else "caution"
            if levels & {"caution", "missing"}
            else "eligible"
        )
        asked = tuple(r.text for r in reasons if r.level == "missing" and r.rule is not None)
        result[agent] = AgentScreen(
            agent,
            status,
            tuple(reasons),
            missing + asked,
            _regimen_status(agent, status, facts.age_years),
        )
    return Screening(result, tuple(unrecognised), knowledge_version(), tuple(not_counted), today)


def _fact(facts: PatientFacts, key: str, text: str) -> str:
    src = facts.fact_sources.get(key)
    return f"{text} ({src})" if src else text


Indexed = tuple[int, Rule, tuple[str, ...]]  # (place in the knowledge base, rule, its sources)
RuleIndex = tuple[dict[str, list[Indexed]], dict[str, list[Indexed]], list[Indexed]]


@cache
def _rule_index() -> dict[str, RuleIndex]:
    """Per agent: rules by the concept they fire on, by the allergy, and the age rules, each
    with its place in the file and its sources (computed once; keyed by position, so a second
    load of the knowledge base in another thread cannot mismatch it)."""
    out: dict[str, RuleIndex] = {}
    for agent, rules in contraindications().rules.items():
        by_when: dict[str, list[Indexed]] = {}
        by_allergy: dict[str, list[Indexed]] = {}
        by_age: list[Indexed] = []
        for i, r in enumerate(rules.items):
            item = (i, r, tuple(dict.fromkeys(c.source for c in r.cite)))
            if r.when is not None:
                by_when.setdefault(r.when, []).append(item)
            elif r.allergy_to is not None:
                by_allergy.setdefault(r.allergy_to, []).append(item)
            else:
                by_age.append(item)
        out[agent] = (by_when, by_allergy, by_age)
    return out


def _triggered(
    by_when: dict[str, list[Indexed]],
    by_allergy: dict[str, list[Indexed]],
    by_age: list[Indexed],
    present: dict[str, list[_Hit]],
    allergic: dict[str, list[_Hit]],
) -> list[Indexed]:
    """The rules that can fire, in the knowledge base's order (reasons read as the file does)."""
    found = [x for name in present for x in by_when.get(name, ())]
    found += [x for name in allergic for x in by_allergy.get(name, ())]
    found += by_age
    return sorted(found, key=lambda x: x[0])


def _apply(
    rule: Rule,
    src: tuple[str, ...],
    facts: PatientFacts,
    present: dict[str, list[_Hit]],
    allergic: dict[str, list[_Hit]],
    today: date,
) -> list[Reason]:
    if rule.age_below is not None or rule.age_at_least is not None:
        age = facts.age_years
        if age is None:
            return []  # the agent's 'age' need reports it as missing
        hit = (rule.age_below is not None and age < rule.age_below) or (
            rule.age_at_least is not None and age >= rule.age_at_least
        )
        return (
            [
                Reason(
                    rule.level,
                    rule.reason,
                    (_fact(facts, "age_years", f"age {age}"),),
                    src,
                    rule.trigger,
                )
            ]
            if hit
            else []
        )
    if rule.allergy_to is not None:
        hits = allergic.get(rule.allergy_to, [])
        if not hits:
            return []
        facts_txt = tuple(
            dict.fromkeys(
                f"allergy: {h.fact}" + (" (unconfirmed)" if h.status == "unconfirmed" else "")
                for h in hits
            )
        )
        return [Reason(rule.level, rule.reason, facts_txt, src, rule.trigger)]
    assert rule.when is not None
    hits = present.get(rule.when, [])
    if not hits:
        return []
    is_condition = rule.when in contraindications().conditions
    fired: list[str] = []
    asked: list[str] = []
    if is_condition:
        allowed = set(rule.statuses or ("active", "unconfirmed"))
        for h in hits:
            if h.status not in allowed:
                continue
            fact = (
                h.fact
                + (" (unconfirmed)" if h.status == "unconfirmed" else "")
                + (" (history)" if h.status == "history" else "")
            )
            if rule.within_days is not None:
                if h.date is None:
                    asked.append(
                        f"when {h.fact} began (it counts within {rule.within_days:g} days)"
                    )
                    continue
                if (today - h.date).days > rule.within_days:
                    continue
                fact += f" (began {h.date.isoformat()}, within {rule.within_days:g} days)"
            fired.append(fact)
    else:
        allowed = set(rule.statuses or ("current", "recent"))
        for h in hits:
            if h.status == "current" and "current" in allowed:
                fired.append(h.fact)
            elif h.status == "unknown":
                asked.append(f"whether {h.fact} is still taken (its record does not say)")
            elif h.status == "recent" and ("recent" in allowed or rule.recent_days):
                fired.append(f"{h.fact} (stopped recently)")
            elif h.status == "past" and "past" in allowed:
                fired.append(f"{h.fact} (in the past)")
            elif h.status in ("past", "recent") and rule.recent_days:
                if h.date is None:
                    asked.append(
                        f"when {h.fact} was last taken (a stop inside {rule.recent_days:g} days "
                        "still counts)"
                    )
                elif (today - h.date).days <= rule.recent_days:
                    fired.append(
                        f"{h.fact} (last taken {h.date.isoformat()}, inside {rule.recent_days:g} days)"
                    )
    out = []
    if fired:
        out.append(Reason(rule.level, rule.reason, tuple(dict.fromkeys(fired)), src, rule.trigger))
    elif asked:
        out.append(
            Reason(
                "missing",
                f"{rule.reason}: ask " + "; ".join(dict.fromkeys(asked)),
                (),
                src,
                rule.trigger,
            )
        )
    return out


# Facts that age, and the window (record_reading.yaml freshness_days) each is read under.
_AGING = {
    "systolic_mmhg": "blood_pressure",
    "diastolic_mmhg": "blood_pressure",
    "b12_status": "b12_status",
    "pregnant": "pregnancy_status",
    "breastfeeding": "breastfeeding_status",
}
UNREAD_SHOWN = 10  # unread records listed in a reason before "and N more"


def _fresh(facts: PatientFacts, today: date) -> PatientFacts:
    """The facts as they stand on ``today``: a fact recorded longer ago than its freshness
    window is unknown (and says when it was recorded), so a stored 'not pregnant' or blood
    pressure does not count for ever."""
    windows = record_reading().freshness_days
    update: dict[str, Any] = {}
    notes = dict(facts.fact_notes)
    for key, need in _AGING.items():
        when = facts.fact_dates.get(key)  # type: ignore[call-overload]
        if when is None or getattr(facts, key) is None:
            continue
        days = windows[need].days
        if (today - when).days > days:
            update[key] = None
            notes[need] = f"the latest, recorded {when.isoformat()}, is older than {days:g} days"
    if not update:
        return facts
    if "systolic_mmhg" in update or "diastolic_mmhg" in update:
        update["systolic_mmhg"] = update["diastolic_mmhg"] = None
    return facts.model_copy(update={**update, "fact_notes": notes})


def _lacks(need: str, facts: PatientFacts, reasons: list[Reason] | None = None) -> bool:
    if need == "b12_status":
        return facts.b12_status is None
    if need == "pregnancy_status":
        return facts.pregnant is None and facts.sex != "male"
    if need == "breastfeeding_status":
        return facts.breastfeeding is None and facts.sex != "male"
    if need == "blood_pressure":
        return facts.systolic_mmhg is None
    if need == "age":
        return facts.age_years is None
    if need == "allergies":
        return facts.allergies is None
    # 'current opioid use' is answered by the fact, or by an opioid rule that fired or asked on
    # this record; an opioid stopped long ago does not show that none is taken now
    return facts.opioid_use is None and not any(r.rule == "opioid" for r in reasons or ())


def entry_concepts(entry: Entry, kind: Kind) -> set[str]:
    """The concepts (with every class they belong to) one entry reaches, read as screening
    reads it."""
    hits, allergies, _, _ = _read_entry(entry, kind)
    return {h.concept for h in (allergies if kind == "allergy" else hits)}


def _missing_text(need: str, facts: PatientFacts) -> str:
    note = facts.fact_notes.get(need)
    return MISSING_TEXT[need] + (f" ({note})" if note else "")


def _bp_reasons(agent: str, bp: BloodPressure | None, facts: PatientFacts) -> list[Reason]:
    if bp is None:
        return []
    out = []
    for rule in monitoring().blood_pressure.pre_dose:
        if rule.agent != agent:
            continue
        hits = []
        if rule.systolic_above is not None and bp.systolic > rule.systolic_above:
            hits.append(f"systolic {bp.systolic:g} > {rule.systolic_above:g}")
        if rule.diastolic_above is not None and bp.diastolic > rule.diastolic_above:
            hits.append(f"diastolic {bp.diastolic:g} > {rule.diastolic_above:g}")
        if hits:
            level = "contraindicated" if rule.level == "critical" else "caution"
            out.append(
                Reason(
                    level,
                    rule.action,
                    (_fact(facts, "systolic_mmhg", f"blood pressure {bp}"), *hits),
                    tuple(dict.fromkeys(c.source for c in rule.cite)),
                    "blood pressure",
                )
            )
    return out


def _regimen_status(agent: str, status: Status, age: int | None) -> dict[str, Status]:
    out: dict[str, Status] = {}
    for r in regimens().values():
        if r.agent != agent:
            continue
        if age is not None and (
            (r.max_age_years is not None and age > r.max_age_years)
            or (r.min_age_years is not None and age < r.min_age_years)
        ):
            continue  # the regimen is for another age group
        out[r.id] = status
    return out
