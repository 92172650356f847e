"""FHIR datatypes as the reader checks and reads them: dates, CodeableConcepts, references."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from raad.clinical.facts import Coding, Entry
from raad.knowledge.codes import system_name

DATE = re.compile(r"([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?")
DATETIME = re.compile(
    r"([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?)?)?)?"
)


# -- small readers of FHIR datatypes ---------------------------------------------------------


class ElementError(ValueError):
    """One element cannot be read: its path and why."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")


def fhir_time(value: Any, path: str, *, end: bool = False) -> datetime | None:
    """A FHIR date, dateTime or instant as an aware UTC datetime (partial dates: the start of
    the period they name, or its end with ``end=True``). A time without the time zone FHIR
    requires is read as UTC rather than dropping the record it dates."""
    if value is None:
        return None
    if not isinstance(value, str) or not DATETIME.fullmatch(value):
        raise ElementError(path, f"{value!r} is not a FHIR date or dateTime")
    if "T" in value:
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
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


def codings_of(concept: Any, path: str, *, any_system: bool = False) -> list[tuple[str, str]]:
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


def text_of(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    t = concept.get("text")
    if isinstance(t, str) and t.strip():
        return t.strip()
    for c in concept.get("coding") or []:
        if isinstance(c, dict) and isinstance(c.get("display"), str) and c["display"].strip():
            return c["display"].strip()
    return None


def status_codes(concept: Any, path: str) -> set[str]:
    return (
        {k for _, k in codings_of(concept, path, any_system=True)} if concept is not None else set()
    )


def loinc_codes(concept: Any, path: str) -> set[str]:
    return {k for s, k in codings_of(concept, path) if system_name(s) == "LOINC"}


def make_entry(concept: Any, path: str, **kw: Any) -> Entry | None:
    codes = codings_of(concept, path)
    text = text_of(concept)
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


def ref_id(resource: dict[str, Any]) -> str:
    rid = resource.get("id")
    return (
        f"{resource.get('resourceType')}/{rid}"
        if isinstance(rid, str)
        else str(resource.get("resourceType"))
    )


def day_of(t: datetime | None) -> str:
    return t.date().isoformat() if t else "undated"


def product_name(rxcui: str) -> str | None:
    """The name of an RxNorm product raad knows (``knowledge/rxnorm_products.json``)."""
    return _products().get(rxcui)


@cache
def _products() -> dict[str, str]:
    from raad.knowledge.treatment import contraindications

    return {p.code.split("=", 1)[1]: p.name for p in contraindications().products}
