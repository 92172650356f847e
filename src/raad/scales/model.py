"""Rating instruments as data: the typed model of ``instruments/*.yaml``.

Each instrument file gives its items (id, label, allowed range), how the total is formed,
severity bands, suicide items, LOINC codes (or why there are none), outcome definitions
(response, remission, relapse, minimal clinically important difference) and, for every one
of these, the sources it was read in.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from raad.knowledge import Citation

if TYPE_CHECKING:
    from .scoring import Score


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Answer(_Frozen):
    """One allowed value of an item with its label and, where LOINC has one, its answer code."""

    value: int
    label: str
    loinc: str | None = None


class Item(_Frozen):
    """A scored item: ``min``..``max`` inclusive."""

    id: str
    label: str
    min: int
    max: int
    text: str | None = None  # shipped only where the licence allows
    loinc: str | None = None
    answers: tuple[Answer, ...] = ()
    variants: dict[str, str] = Field(
        default_factory=dict
    )  # e.g. HAMD item 16: A history, B measured
    # codes meaning "not rated" (HAM-D item 16: 3 = not assessed): scored 0, kept and shown
    not_scored: dict[int, str] = Field(default_factory=dict)
    asked_if: str | None = None  # skip logic, e.g. "2 == 1"

    @model_validator(mode="after")
    def _range(self) -> Item:
        if self.min > self.max:
            raise ValueError(f"item {self.id}: min {self.min} > max {self.max}")
        for a in self.answers:
            if not self.min <= a.value <= self.max:
                raise ValueError(f"item {self.id}: answer {a.value} outside {self.min}-{self.max}")
        return self


class ExtraItem(_Frozen):
    """An item asked with the instrument but not counted in the total (e.g. PHQ-9 item 10)."""

    id: str
    label: str
    min: int
    max: int
    loinc: str | None = None
    answers: tuple[Answer, ...] = ()
    asked_if_total_above: int | None = None  # PHQ-9 item 10: asked when the total is above 0
    note: str


class Domain(_Frozen):
    """Items combined into one domain score (QIDS-SR16: the highest of the domain's items)."""

    id: str
    label: str
    items: tuple[str, ...]
    rule: Literal["max", "sum"]
    # items the form asks to answer only one of (QIDS-SR16: 6 or 7, 8 or 9); an item of such a
    # group is not missing when another of the group is answered
    answer_one_of: tuple[tuple[str, ...], ...] = ()
    note: str | None = None
    cite: tuple[Citation, ...] = ()

    @model_validator(mode="after")
    def _groups_in_domain(self) -> Domain:
        for group in self.answer_one_of:
            if len(group) < 2 or set(group) - set(self.items):
                raise ValueError(
                    f"domain {self.id}: answer_one_of {list(group)} must name two or more of "
                    f"its items {list(self.items)}"
                )
        if self.answer_one_of and self.rule != "max":
            raise ValueError(f"domain {self.id}: answer_one_of needs the max rule")
        return self


class Total(_Frozen):
    """How the total is formed from the items."""

    rule: Literal["sum", "domains", "none"]
    domains: tuple[Domain, ...] = ()
    note: str | None = None
    cite: tuple[Citation, ...] = ()


class Band(_Frozen):
    label: str
    min: int
    max: int


class BandSet(_Frozen):
    """A set of severity bands that must partition the total range."""

    name: str
    bands: tuple[Band, ...]
    cite: tuple[Citation, ...]


class Severity(_Frozen):
    default: BandSet
    alternatives: tuple[BandSet, ...] = ()


class SuicideItem(_Frozen):
    item: str
    flag_at_or_above: int
    basis: str
    cite: tuple[Citation, ...] = ()


class RiskLevel(_Frozen):
    """One grade of a screener without a total (C-SSRS): the grade applies when all items of
    any one group in ``when_any`` are answered at or above 1 (yes); grades are tried in order."""

    level: str
    when_any: tuple[tuple[str, ...], ...]
    cite: tuple[Citation, ...] = ()


class Syndrome(_Frozen):
    name: str
    core_at_least: int
    count_min: int
    count_max: int


class DiagnosticAlgorithm(_Frozen):
    """Symptom-count algorithm (PHQ-9): an item counts when rated at or above ``counts_at``;
    the first syndrome whose core and total counts fit is reported."""

    counts_at: dict[str, int]
    core_items: tuple[str, ...]
    syndromes: tuple[Syndrome, ...]
    note: str
    cite: tuple[Citation, ...]

    def syndrome(self, values: Mapping[str, int]) -> str:
        counted = {k for k, at in self.counts_at.items() if values.get(k, -1) >= at}
        core = len(counted & set(self.core_items))
        for s in self.syndromes:
            if core >= s.core_at_least and s.count_min <= len(counted) <= s.count_max:
                return s.name
        return "none"


class Missing(_Frozen):
    """What to do with unanswered items: refuse to total, or prorate up to ``max_missing``."""

    policy: Literal["refuse", "prorate"]
    max_missing: int = 0
    note: str
    cite: tuple[Citation, ...] = ()


class Loinc(_Frozen):
    panel: str | None = None
    total: str | None = None
    risk: str | None = None  # C-SSRS screener: suicide risk level
    note: str | None = None
    cite: tuple[Citation, ...] = ()


class Cutoff(_Frozen):
    """A named threshold on the total or on the change from baseline."""

    name: str
    total_at_most: int | None = None
    total_at_least: int | None = None
    percent_reduction_at_least: float | None = None
    percent_reduction_between: tuple[float, float] | None = None
    points: float | None = None  # for a minimal clinically important difference
    requires: str | None = None  # a condition the rule needs beyond two totals
    note: str | None = None
    cite: tuple[Citation, ...]

    @model_validator(mode="after")
    def _one_rule(self) -> Cutoff:
        rules = [
            self.total_at_most,
            self.total_at_least,
            self.percent_reduction_at_least,
            self.percent_reduction_between,
            self.points,
        ]
        if sum(r is not None for r in rules) != 1:
            raise ValueError(f"cutoff {self.name!r}: exactly one rule is needed")
        return self


class Outcome(_Frozen):
    """The definition raad uses and the alternatives other sources use."""

    default: Cutoff
    alternatives: tuple[Cutoff, ...] = ()


class Outcomes(_Frozen):
    response: Outcome | None = None
    partial_response: Outcome | None = None
    remission: Outcome | None = None
    relapse: Outcome | None = None
    mcid: Outcome | None = None


class Instrument(_Frozen):
    """A rating instrument; ``items`` are the ones that count toward the total, in order."""

    name: str
    title: str
    aliases: tuple[str, ...] = ()
    rater: Literal["clinician", "self-report"]
    recall_period: str | None = None
    text_licence: str
    items: tuple[Item, ...]
    extra_items: tuple[ExtraItem, ...] = ()
    total: Total
    missing: Missing
    severity: Severity | None = None
    suicide_items: tuple[SuicideItem, ...] = ()
    risk_levels: tuple[RiskLevel, ...] = ()  # highest first; none matched -> "negative"
    diagnostic_algorithm: DiagnosticAlgorithm | None = None
    loinc: Loinc
    outcomes: Outcomes = Outcomes()
    notes: tuple[str, ...] = ()
    cite: tuple[Citation, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        ids = [i.id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.name}: duplicate item ids")
        known = set(ids)
        for d in self.total.domains:
            unknown = set(d.items) - known
            if unknown:
                raise ValueError(
                    f"{self.name}: domain {d.id} names unknown items {sorted(unknown)}"
                )
        for s in self.suicide_items:
            if s.item not in known and s.item not in {e.id for e in self.extra_items}:
                raise ValueError(f"{self.name}: suicide item {s.item} is not an item")
        if self.diagnostic_algorithm and set(self.diagnostic_algorithm.counts_at) - known:
            raise ValueError(f"{self.name}: diagnostic algorithm names unknown items")
        for r in self.risk_levels:
            for group in r.when_any:
                if set(group) - known:
                    raise ValueError(f"{self.name}: risk level {r.level} names unknown items")
        if self.severity is not None:
            lo, hi = self.total_range
            for bandset in (self.severity.default, *self.severity.alternatives):
                _check_partition(self.name, bandset, lo, hi)
        return self

    @property
    def item_ids(self) -> tuple[str, ...]:
        """The scored items' ids, in order (HAM-D: "16" is one item, rated as 16A or 16B)."""
        return tuple(i.id for i in self.items)

    @property
    def response_keys(self) -> tuple[str, ...]:
        """Every key ``score()`` accepts, in order: items without variants by id, items with
        variants by id + variant ("16A", "16B": one of them per record), then extra items."""
        keys = [k for i in self.items for k in ([i.id + v for v in i.variants] or [i.id])]
        return (*keys, *(e.id for e in self.extra_items))

    @property
    def total_range(self) -> tuple[int, int]:
        """Minimum and maximum total, computed from the item ranges and the total rule."""
        if self.total.rule == "none":
            return (0, 0)
        if self.total.rule == "sum":
            return (sum(i.min for i in self.items), sum(i.max for i in self.items))
        by_id = {i.id: i for i in self.items}
        lo = hi = 0
        for d in self.total.domains:
            mins = [by_id[x].min for x in d.items]
            maxs = [by_id[x].max for x in d.items]
            lo += max(mins) if d.rule == "max" else sum(mins)
            hi += max(maxs) if d.rule == "max" else sum(maxs)
        return (lo, hi)

    def score(self, responses: Mapping[Any, Any], *, allow_incomplete: bool = False) -> Score:
        """Score one administration (see ``scoring.score``)."""
        from .scoring import score

        return score(self, responses, allow_incomplete=allow_incomplete)

    def item_for_key(self, key: str) -> Item | ExtraItem | None:
        """The item a response key names ("16A" -> item 16; "10" on PHQ-9 -> the extra item)."""
        for i in self.items:
            if key == i.id or (key.startswith(i.id) and key[len(i.id) :] in i.variants):
                return i
        return next((e for e in self.extra_items if e.id == key), None)

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(item_id)

    def alternates(self, item_id: str) -> tuple[str, ...]:
        """The items the form asks to answer instead of ``item_id`` (QIDS-SR16 item 6 -> ("7",))."""
        for d in self.total.domains:
            for group in d.answer_one_of:
                if item_id in group:
                    return tuple(x for x in group if x != item_id)
        return ()

    def citations(self) -> list[Citation]:
        """Every citation in the file (for the load-time source check)."""
        out: list[Citation] = [*self.cite, *self.total.cite, *self.missing.cite, *self.loinc.cite]
        for d in self.total.domains:
            out += d.cite
        if self.severity:
            for b in (self.severity.default, *self.severity.alternatives):
                out += b.cite
        for s in self.suicide_items:
            out += s.cite
        for r in self.risk_levels:
            out += r.cite
        if self.diagnostic_algorithm:
            out += self.diagnostic_algorithm.cite
        for o in (
            self.outcomes.response,
            self.outcomes.partial_response,
            self.outcomes.remission,
            self.outcomes.relapse,
            self.outcomes.mcid,
        ):
            if o is not None:
                for c in (o.default, *o.alternatives):
                    out += c.cite
        return out


def _check_partition(name: str, bandset: BandSet, lo: int, hi: int) -> None:
    bands = sorted(bandset.bands, key=lambda b: b.min)
    if bands[0].min != lo or bands[-1].max != hi:
        raise ValueError(
            f"{name}: bands {bandset.name!r} cover {bands[0].min}-{bands[-1].max}, "
            f"total range is {lo}-{hi}"
        )
    for a, b in itertools.pairwise(bands):
        if b.min != a.max + 1:
            raise ValueError(f"{name}: bands {bandset.name!r} leave a gap or overlap at {a.max}")
