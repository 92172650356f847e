"""Code systems raad's knowledge files use, the syntax of their codes, and how codes match.

A code is written ``SYSTEM|code`` (that code and every code below it, for hierarchical systems)
or ``SYSTEM=code`` (that code only). ICD-10-CM and WHO ICD-10 codes are written dotted
("J95.811"); matching ignores dots, spaces and case on both sides, so "J95.811", "J95811" and
"j95.811" from an EHR are the same code. SNOMED CT, RxNorm and LOINC identifiers are flat
numbers (their hierarchies are not encoded in the identifier), so their codes are exact only.

FHIR names each system by a URI (https://hl7.org/fhir/R4/terminologies-systems.html);
``system_name`` turns a URI, or a short name in any case, into the short name used here.
"""

from __future__ import annotations

import re
from typing import NamedTuple

CODE_SYSTEMS: dict[str, re.Pattern[str]] = {
    "ICD-10-CM": re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?"),
    "ICD-10": re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,2})?"),
    "SNOMED-CT": re.compile(r"[1-9][0-9]{5,17}"),
    "ATC": re.compile(r"[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?"),
    "RXNORM": re.compile(r"[1-9][0-9]*"),
    "LOINC": re.compile(r"[1-9][0-9]{0,6}-[0-9]"),
}
# Hierarchical systems, where "SYSTEM|code" matches the code and every code below it.
PREFIX_SYSTEMS = frozenset({"ICD-10-CM", "ICD-10", "ATC"})
# The FHIR code-system URI of each system (HL7 FHIR R4, "Using Codes in resources", 4.3.0.1).
SYSTEM_URIS: dict[str, str] = {
    "ICD-10-CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD-10": "http://hl7.org/fhir/sid/icd-10",
    "SNOMED-CT": "http://snomed.info/sct",
    "ATC": "http://www.whocc.no/atc",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "LOINC": "http://loinc.org",
}
_BY_URI = {uri: name for name, uri in SYSTEM_URIS.items()}
_ALIASES = {
    "ICD10CM": "ICD-10-CM",
    "ICD-10-CM": "ICD-10-CM",
    "ICD10": "ICD-10",
    "ICD-10": "ICD-10",
    "SNOMED": "SNOMED-CT",
    "SNOMEDCT": "SNOMED-CT",
    "SNOMED-CT": "SNOMED-CT",
    "SCT": "SNOMED-CT",
    "ATC": "ATC",
    "RXNORM": "RXNORM",
    "LOINC": "LOINC",
}
_CODE = re.compile(r"(?P<system>[A-Z0-9-]+)(?P<op>[|=])(?P<code>\S+)")


class CodeRef(NamedTuple):
    system: str
    code: str  # normalised: upper case, no dots
    exact: bool


def normalise_code(code: str) -> str:
    """A code as matched: upper case, without dots or spaces ("j93.11 " -> "J9311")."""
    return re.sub(r"[\s.]", "", code).upper()


def system_name(system: str | None) -> str | None:
    """The short name of a code system given as a FHIR URI or a name in any case
    ("http://snomed.info/sct" and "snomed-ct" -> "SNOMED-CT"); ``None`` if raad does not know
    it. URIs are compared without a trailing slash."""
    if not system:
        return None
    s = system.strip()
    if s in _BY_URI:
        return _BY_URI[s]
    if s.rstrip("/") in _BY_URI:
        return _BY_URI[s.rstrip("/")]
    return _ALIASES.get(s.upper().replace(" ", "").replace("_", "-"))


def parse_code(text: str) -> CodeRef:
    """``SYSTEM|code`` (the code and all codes below it) or ``SYSTEM=code`` (that code only)."""
    m = _CODE.fullmatch(text)
    if m is None:
        raise ValueError(f"code {text!r}: write SYSTEM|code (prefix) or SYSTEM=code (exact)")
    system, op, code = m["system"], m["op"], m["code"]
    if system not in CODE_SYSTEMS:
        raise ValueError(
            f"code {text!r}: unknown system {system!r} (known: {sorted(CODE_SYSTEMS)})"
        )
    if not CODE_SYSTEMS[system].fullmatch(code):
        raise ValueError(f"code {text!r}: {code!r} is not a well-formed {system} code")
    if op == "|" and system not in PREFIX_SYSTEMS:
        raise ValueError(f"code {text!r}: {system} codes are not hierarchical; use {system}={code}")
    return CodeRef(system, normalise_code(code), op == "=")
