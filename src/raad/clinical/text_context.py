"""Free text read as a clinician would: negation, family history, history, uncertainty and
allergy around a concept, after NegEx (Chapman et al. 2001) and ConText (Harkema et al. 2009).

The triggers are data (``knowledge/text_context.yaml``). ``find(text, aliases)`` returns the
concepts named in ``text`` with the context each is named in:

- ``negated`` ("no history of stroke", "pneumothorax ruled out") and ``family`` ("family
  history of stroke") are not the patient's and are not counted;
- ``historical`` ("history of", "in remission") reads as the status ``history``;
- ``uncertain`` ("rule out", "possible") reads as ``unconfirmed``;
- ``allergy`` ("allergy to ketamine", "naltrexone hypersensitivity") is an allergy, not use.

A trigger counts only inside the concept's clause (clauses end at a terminator such as "but" or
";") and on the right side of it (``pre`` before, ``post`` after). Why a compact lexicon rather
than a spaCy pipeline: entries are short list items, not notes, and screening must stay above
12,000 patients/s (``bench/screen.py``); the lexicon is the published trigger list, cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

import yaml

Context = Literal["affirmed", "negated", "family", "historical", "uncertain", "allergy"]
# When several triggers apply, the one that takes the concept furthest from "the patient has it
# now" wins: a negated family history is still not the patient's.
PRECEDENCE: tuple[Context, ...] = ("allergy", "negated", "family", "historical", "uncertain")


@dataclass(frozen=True)
class Mention:
    concept: str
    context: Context
    trigger: str | None


_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")  # soft hyphen, zero-width


def norm(text: str) -> str:
    """Lower case, words separated by single spaces, padded with a space on each side;
    '%', '?', ';' and '.' are kept as tokens (they carry meaning here)."""
    t = _INVISIBLE.sub("", text).lower().replace("/", " / ")
    t = re.sub(r"([;?.])", r" \1 ", t)
    t = re.sub(r"h / o", "h/o", t)
    t = re.sub(r"r / o", "r/o", t)
    return " " + " ".join(re.sub(r"[^a-z0-9%?;./]+", " ", t).split()) + " "


@cache
def _lexicon() -> dict:
    raw = yaml.safe_load(
        resources.files("raad.knowledge").joinpath("text_context.yaml").read_text("utf-8")
    )
    cats = {}
    for cat, sides in raw["categories"].items():
        for side in ("pre", "post"):
            bad = [t for t in sides.get(side, []) if not isinstance(t, str)]
            if bad:  # YAML reads a bare no/yes as a boolean: quote such triggers
                raise ValueError(f"text_context.yaml: {cat}.{side}: {bad} are not strings")
        cats[cat] = {
            side: tuple(sorted({norm(t) for t in sides.get(side, [])}, key=len, reverse=True))
            for side in ("pre", "post")
        }
    return {
        "terminators": tuple(norm(t) for t in raw["terminators"]),
        "pseudo": tuple(norm(t) for t in raw["pseudo"]),
        "categories": cats,
    }


def _clause(t: str, start: int, end: int) -> tuple[str, str]:
    """The text before and after the span [start, end) inside its clause."""
    lex = _lexicon()
    before, after = t[:start] + " ", " " + t[end:]
    for term in lex["terminators"]:
        i = before.rfind(term)
        if i >= 0:
            before = before[i + len(term) - 1 :]
        j = after.find(term)
        if j >= 0:
            after = after[: j + 1]
    return before, after


def _context(before: str, after: str) -> tuple[Context, str | None]:
    lex = _lexicon()
    for p in lex["pseudo"]:
        before = before.replace(p, " ")
        after = after.replace(p, " ")
    for cat in PRECEDENCE:
        sides = lex["categories"][cat]
        for trig in sides["pre"]:
            if trig in before:
                return cat, trig.strip()
        for trig in sides["post"]:
            if trig in after:
                return cat, trig.strip()
    return "affirmed", None


@lru_cache(maxsize=65_536)
def find(text: str, aliases: tuple[tuple[str, str], ...]) -> tuple[Mention, ...]:
    """Concepts whose alias (``(concept, normalised alias)`` pairs) appears in ``text`` as
    whole words, each with its context. Longer aliases win over the words inside them."""
    t = norm(text)
    taken: list[tuple[int, int]] = []
    out: dict[str, Mention] = {}
    for concept, alias in sorted(aliases, key=lambda a: len(a[1]), reverse=True):
        i = t.find(alias)
        while i >= 0:
            end = i + len(alias)
            # a longer alias owns its words; the same words may name several concepts
            if not any((a <= i < b or a < end <= b) and (a, b) != (i, end) for a, b in taken):
                taken.append((i, end))
                before, after = _clause(t, i + 1, end - 1)
                ctx, trig = _context(before, after)
                prev = out.get(concept)
                if prev is None or PRECEDENCE_RANK[ctx] > PRECEDENCE_RANK[prev.context]:
                    out[concept] = Mention(concept, ctx, trig)
            i = t.find(alias, i + 1)
    return tuple(out.values())


# "affirmed" outranks every qualified mention: one plain mention of a concept is enough; then
# the nearer a mention is to "the patient has it now", the higher it ranks.
_RANKING: tuple[tuple[str, ...], ...] = (
    ("negated", "family"),
    ("allergy",),
    ("uncertain",),
    ("historical",),
    ("affirmed",),
)
PRECEDENCE_RANK: dict[str, int] = {c: i for i, group in enumerate(_RANKING) for c in group}
