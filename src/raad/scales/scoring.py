"""Scoring an administration of an instrument: validation, total, severity and suicide flag."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import Instrument


class ScaleInputError(ValueError):
    """A response that is not allowed: names the item, the value and what is allowed."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.suicide_items: tuple[str, ...] = ()  # positive suicide items in a refused record
        super().__init__(f"{field}: got {value!r}; allowed: {allowed}")


@dataclass(frozen=True)
class Score:
    """A scored administration.

    ``items`` holds the validated responses that count (item id -> value); ``variants`` the
    variant used per item (HAM-D item 16: "A" or "B"); ``domains`` the domain scores where the
    total is formed from domains; ``missing`` the unanswered items. ``total`` and ``severity``
    are None when the record is incomplete and the instrument refuses to total it.
    """

    instrument: str
    total: float | None
    severity: str | None
    items: dict[str, int]
    suicide_flag: bool
    complete: bool
    missing: tuple[str, ...] = ()
    variants: dict[str, str] = field(default_factory=dict)
    domains: dict[str, int] = field(default_factory=dict)
    extra: dict[str, int] = field(default_factory=dict)
    prorated: bool = False
    risk: str | None = None  # C-SSRS screener risk level
    suicide_items: tuple[str, ...] = ()  # the suicide items that raised the flag
    not_assessed: dict[str, int] = field(default_factory=dict)  # item -> code given (scored 0)
    syndrome: str | None = None  # PHQ-9 diagnostic algorithm on a complete record

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "total": self.total,
            "severity": self.severity,
            "items": dict(self.items),
            "suicide_flag": self.suicide_flag,
            "suicide_items": list(self.suicide_items),
            "complete": self.complete,
            "missing": list(self.missing),
            "variants": dict(self.variants),
            "domains": dict(self.domains),
            "extra": dict(self.extra),
            "prorated": self.prorated,
            "risk": self.risk,
            "not_assessed": dict(self.not_assessed),
            "syndrome": self.syndrome,
        }


def rating_value(field: str, value: Any, allowed: str) -> int | None:
    """One rating as an ``int``, or None for "not answered"; the one rule for every entry point.

    Accepted: integers of any integer type (``int``, ``numpy.int64`` from a pandas row), and
    floats holding a whole number (``2.0``, as pandas stores an integer column with gaps).
    ``None`` and a float NaN (pandas' missing value) mean "not answered". Refused, naming
    ``field``: booleans (True is never a score), strings (``"1"``), fractions (``1.5``) and
    infinities.

    Raises:
        ScaleInputError: the value is none of the above.
    """
    if value is None:
        return None
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):  # numpy.bool
        raise ScaleInputError(field, value, f"{allowed} (true/false is not a rating)")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return None
        if math.isfinite(v) and v.is_integer():
            return int(v)
    raise ScaleInputError(field, value, allowed)


def _value(instr: Instrument, key: str, value: Any, lo: int, hi: int) -> int | None:
    return rating_value(f"{instr.name} item {key}", value, f"an integer {lo}-{hi}")


def normalise_responses(
    instr: Instrument, responses: Mapping[Any, Any]
) -> tuple[dict, dict, dict, dict]:
    """Validate ``responses`` -> (scored item values, variants used, extra item values,
    items rated with a "not assessed" code: item id -> the code given)."""
    if not isinstance(responses, Mapping):
        raise ScaleInputError(
            "responses", type(responses).__name__, "a mapping of item id to value"
        )
    by_id = {i.id: i for i in instr.items}
    extras = {e.id: e for e in instr.extra_items}
    variant_keys = {f"{i.id}{v}": (i.id, v) for i in instr.items for v in i.variants}
    values: dict[str, int] = {}
    variants: dict[str, str] = {}
    extra_values: dict[str, int] = {}
    not_assessed: dict[str, int] = {}
    for raw_key, raw in responses.items():
        key = str(raw_key)
        if key in extras:
            e = extras[key]
            v = _value(instr, key, raw, e.min, e.max)
            if v is None:
                continue
            if not e.min <= v <= e.max:
                raise ScaleInputError(f"{instr.name} item {key}", v, f"{e.min}-{e.max} ({e.label})")
            extra_values[key] = v
            continue
        variant = None
        if key in variant_keys:
            key, variant = variant_keys[key]
        if key not in by_id:
            allowed = ", ".join([*by_id, *variant_keys, *extras])
            raise ScaleInputError("item", raw_key, f"items of {instr.name}: {allowed}")
        item = by_id[key]
        v = _value(instr, key + (variant or ""), raw, item.min, item.max)
        if v is None:
            continue  # not answered (a pandas row has a NaN in the other variant's column)
        if key in values or key in variants:
            raise ScaleInputError(
                f"{instr.name} item {key}",
                raw_key,
                "one rating per item (for item variants, one of "
                f"{', '.join(key + v for v in item.variants)})",
            )
        if item.variants and variant is None:
            raise ScaleInputError(
                f"{instr.name} item {key}",
                raw_key,
                f"the variant in the key: {', '.join(key + v for v in item.variants)}"
                f" ({'; '.join(f'{v} {d}' for v, d in item.variants.items())})",
            )
        if variant is not None:
            variants[key] = variant
        if v in item.not_scored:
            # HAM-D item 16 rated 3 = not assessed: scored 0, as the ECDEU manual and CamCOPS
            # do, and kept so it is shown and exported as given.
            not_assessed[key] = v
            values[key] = 0
            continue
        if not item.min <= v <= item.max:
            extra = "".join(f"; {c} = {t} (not scored)" for c, t in item.not_scored.items())
            raise ScaleInputError(
                f"{instr.name} item {key}", v, f"{item.min}-{item.max} ({item.label}){extra}"
            )
        values[key] = v
    ordered = {i.id: values[i.id] for i in instr.items if i.id in values}
    return ordered, variants, extra_values, not_assessed


def score(
    instr: Instrument, responses: Mapping[Any, Any], *, allow_incomplete: bool = False
) -> Score:
    """Score one administration; see the instrument's ``missing`` policy for unanswered items."""
    values, variants, extra_values, not_assessed = normalise_responses(instr, responses)
    try:
        values = _apply_skip_logic(instr, values)
    except ScaleInputError as exc:
        # a contradiction is refused, but a positive suicide item in it is never lost
        positive = [
            s.item for s in instr.suicide_items if values.get(s.item, 0) >= s.flag_at_or_above
        ]
        if positive:
            exc.allowed += (
                f". SUICIDE ITEM ALERT: item(s) {', '.join(positive)} answered positive - "
                "assess suicide risk now"
            )
            exc.suicide_items = tuple(positive)
            exc.args = (f"{exc.field}: got {exc.value!r}; allowed: {exc.allowed}",)
        raise
    asked = [i for i in instr.items if _is_asked(i.asked_if, values)]
    missing = tuple(
        i.id
        for i in asked
        if i.id not in values and not any(a in values for a in instr.alternates(i.id))
    )
    flagged = tuple(
        s.item
        for s in instr.suicide_items
        if (values.get(s.item, extra_values.get(s.item)) or 0) >= s.flag_at_or_above
    )
    if instr.total.rule == "none":
        from .cssrs import risk_level

        complete = not missing
        risk = risk_level(instr, values, complete=complete)
        if missing and not allow_incomplete:
            raise _incomplete(instr, missing)
        return Score(
            instr.name,
            None,
            risk,
            values,
            bool(flagged),
            complete,
            missing,
            variants,
            {},
            extra_values,
            False,
            risk,
            flagged,
            not_assessed,
        )
    domains: dict[str, int] = {}
    prorated = False
    if not missing:
        total: float | None = _total(instr, values, domains)
    elif instr.missing.policy == "prorate" and len(missing) <= instr.missing.max_missing:
        answered = sum(values.values())
        total = answered * len(instr.items) / (len(instr.items) - len(missing))
        prorated = True
    else:
        if not allow_incomplete:
            raise _incomplete(instr, missing)
        total = None
    severity = band(instr, total) if total is not None and instr.severity else None
    return Score(
        instr.name,
        total,
        severity,
        values,
        bool(flagged),
        not missing,
        missing,
        variants,
        domains,
        extra_values,
        prorated,
        None,
        flagged,
        not_assessed,
        instr.diagnostic_algorithm.syndrome(values)
        if instr.diagnostic_algorithm and not missing
        else None,
    )


def _incomplete(instr: Instrument, missing: tuple[str, ...]) -> ScaleInputError:
    rule = (
        f"at most {instr.missing.max_missing} missing (prorated)"
        if instr.missing.policy == "prorate"
        else "every item answered"
    )
    return ScaleInputError(
        f"{instr.name} items",
        f"missing {', '.join(missing)}",
        f"{rule}; {instr.missing.note} (pass allow_incomplete=True to keep "
        "an incomplete record without a total)",
    )


def _total(instr: Instrument, values: dict[str, int], domains: dict[str, int]) -> int:
    if instr.total.rule == "sum":
        return sum(values[i.id] for i in instr.items)
    for d in instr.total.domains:
        vals = [values[x] for x in d.items if x in values]  # one of 6/7 may be unanswered
        domains[d.id] = max(vals) if d.rule == "max" else sum(vals)
    return sum(domains.values())


def band(instr: Instrument, total: float, bandset: str | None = None) -> str:
    """The severity band of ``total`` (prorated totals are rounded half up to the band)."""
    if instr.severity is None:
        raise ScaleInputError("severity", instr.name, "an instrument with severity bands")
    sets = {b.name: b for b in (instr.severity.default, *instr.severity.alternatives)}
    chosen = sets[bandset] if bandset else instr.severity.default
    t = math.floor(total + 0.5)
    for b in chosen.bands:
        if b.min <= t <= b.max:
            return b.label
    lo, hi = instr.total_range
    raise ScaleInputError(f"{instr.name} total", total, f"{lo}-{hi}")


def _apply_skip_logic(instr: Instrument, values: dict[str, int]) -> dict[str, int]:
    """Drop a "no" (the item's minimum) to a question the earlier answers skip; refuse any
    other answer there, since it contradicts them (C-SSRS: a yes to 5 after a no to 2)."""
    out = dict(values)
    for item in instr.items:
        if item.id not in values or _is_asked(item.asked_if, values):
            continue
        gate, _, want = (part.strip() for part in (item.asked_if or "").partition("=="))
        if values[item.id] != item.min:
            raise ScaleInputError(
                f"{instr.name} item {item.id}",
                values[item.id],
                f"no answer, or {item.min}: item {item.id} is asked only when item {gate} is "
                f"{want}, and item {gate} is {values[gate]}",
            )
        del out[item.id]
    return out


def _is_asked(condition: str | None, values: dict[str, int]) -> bool:
    """Skip logic of the form ``"<item> == <value>"``; unknown answers mean 'asked'."""
    if condition is None:
        return True
    item, _, want = (part.strip() for part in condition.partition("=="))
    return values.get(item) is None or values[item] == int(want)
