"""A partial US Core 6.1.0 profile checker for raad's tests, reading the real StructureDefinitions
in ``tests/fixtures/us-core/`` (HL7/US-Core 6.1.0, CC0-1.0; see the README there). The HL7
validator cannot run here (it downloads its packages), so this checks what the profiles' own
differentials say, element by element.

What ``check(resource, profile_url)`` checks, for the profile and each parent profile that is in
the fixtures (us-core-blood-pressure -> us-core-vital-signs):

- ``meta.profile`` names the profile;
- every differential element with ``min`` >= 1 is present that many times within each present
  parent (a primitive counts when present as its value or as its ``_element`` extension, as US
  Core's Missing Data rules allow); a slice (``category:VSCat``, ``component:systolic``) counts
  only the repetitions that belong to it (below), and a slice with ``max`` "1" may match once;
- ``fixed[x]`` values (equal) and ``pattern[x]`` values (the instance holds every element of
  the pattern; a list item of the pattern must match some item of the instance) on every
  present element, e.g. the blood-pressure LOINC codes, mm[Hg] and UCUM, category codes;
- ``required`` bindings whose ValueSet is in the fixtures, where the value set is small and
  enumerated there: ``us-core-problem-or-health-concern`` (codes listed) and
  ``us-core-simple-observation-category`` / ``us-core-screening-assessment-observation-category``
  (whole code systems: only the coding's system is compared). On a slice the binding decides
  which repetitions belong to it (the slices are open), elsewhere each value must be in it;
- the differential's invariants (``constraint`` of severity error: us-core-1, -2, -3, -6),
  evaluated with fhirpathpy (R4 model) on each repetition of their element.

Slice membership follows the slicing's discriminators: at each discriminator path (``$this``,
``code``, ``coding.code``) the repetition matches the slice's fixed or pattern value there, or,
where the slice gives none, the slice's required binding.

What it does not check: the base resource's own cardinalities and invariants (``fhir.resources``
validates the R4B model: element names, types and structure, not every invariant); parent
profiles not in the fixtures (FHIR core ``vitalsigns``, the SDC QuestionnaireResponse with its
``questionnaire`` and ``authored`` 1..1, which the tests assert by hand); extensible, preferred
and example bindings; required bindings to value sets not in the fixtures (FHIR core
condition-clinical, allergyintolerance-clinical, administrative-gender, VSAC value sets) or
that import other value sets; whether a code exists in its code system (LOINC, SNOMED CT);
reference target profiles and type restrictions; ``max`` other than on slices; mustSupport;
closed slicing. fhirpathpy 2.2 reads ``$this is DateTime`` as false for a FHIR dateTime, so
us-core-1 (a date-time to at least the day) cannot fail here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fhirpathpy import evaluate
from fhirpathpy.models import models

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "us-core"
R4 = models["r4"]


@dataclass(frozen=True)
class Profiles:
    """The fixtures' StructureDefinitions and ValueSets by canonical URL."""

    structures: dict[str, dict[str, Any]] = field(default_factory=dict)
    value_sets: dict[str, dict[str, Any]] = field(default_factory=dict)


@cache
def profiles() -> Profiles:
    out = Profiles()
    for path in sorted(FIXTURES.glob("*.json")):
        res = json.loads(path.read_text(encoding="utf-8"))
        if res["resourceType"] == "StructureDefinition":
            out.structures[res["url"]] = res
        elif res["resourceType"] == "ValueSet":
            out.value_sets[res["url"]] = res
    return out


def check(resource: dict[str, Any], profile_url: str) -> list[str]:
    """Every way ``resource`` breaks the checked rules of ``profile_url`` (and of its parents
    in the fixtures), each naming the element id; empty when none is found."""
    known = profiles().structures
    if profile_url not in known:
        raise KeyError(f"{profile_url}: not in {FIXTURES}")
    issues = []
    if profile_url not in (resource.get("meta") or {}).get("profile", []):
        issues.append(f"meta.profile: does not name {profile_url}")
    url: str | None = profile_url
    while url in known:
        sd = known[url]
        if sd["type"] != resource.get("resourceType"):
            issues.append(f"{sd['id']}: profiles {sd['type']}, not {resource.get('resourceType')}")
            return issues
        issues += _check_differential(resource, sd)
        url = sd.get("baseDefinition")
    return issues


# -- the differential --------------------------------------------------------------------------


def _check_differential(resource: dict[str, Any], sd: dict[str, Any]) -> list[str]:
    elements = sd["differential"]["element"]
    by_id = {e["id"]: e for e in elements}
    issues: list[str] = []
    for e in elements:
        eid = e["id"]
        parents = _nodes(resource, _parent_id(eid), by_id)
        name = eid.rsplit(".", 1)[-1] if "." in eid else None
        issues += _constraints(e, resource, sd["id"])
        if name is None:  # the resource itself
            continue
        prim, _, slice_name = name.partition(":")
        for i, parent in enumerate(parents):
            values = _children(parent, prim)
            if slice_name:
                values = [v for v in values if _in_slice(v, eid, by_id)]
            where = f"{sd['id']} {eid}" + (f" [{i}]" if len(parents) > 1 else "")
            least = int(e.get("min", 0))
            if len(values) < least:
                issues.append(f"{where}: {len(values)} present, at least {least} required")
            if slice_name and e.get("max") not in (None, "*") and len(values) > int(e["max"]):
                issues.append(f"{where}: {len(values)} match the slice, at most {e['max']}")
            for v in values:
                issues += _values(e, v, where, sliced=bool(slice_name))
    return issues


def _parent_id(eid: str) -> str | None:
    return eid.rsplit(".", 1)[0] if "." in eid else None


def _nodes(resource: dict[str, Any], eid: str | None, by_id: dict[str, Any]) -> list[Any]:
    """The values an element id (``Observation.component:systolic.code``) points at."""
    if eid is None:
        return []
    parts = eid.split(".")
    nodes: list[Any] = [resource]
    for depth, part in enumerate(parts[1:], start=1):
        prim, _, slice_name = part.partition(":")
        nodes = [v for n in nodes for v in _children(n, prim)]
        if slice_name:
            sid = ".".join(parts[:depth]) + "." + part
            nodes = [v for v in nodes if _in_slice(v, sid, by_id)]
    return nodes


def _children(node: Any, name: str) -> list[Any]:
    """The values of element ``name`` in ``node`` (a list flattened; ``value[x]`` any type; a
    primitive present only as its ``_name`` extension counts as present)."""
    if not isinstance(node, dict):
        return []
    if name.endswith("[x]"):
        stem = name[:-3]
        keys = [k for k in node if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()]
    else:
        keys = [name] if name in node else ([f"_{name}"] if f"_{name}" in node else [])
    out: list[Any] = []
    for k in keys:
        v = node[k]
        out += v if isinstance(v, list) else [v]
    return out


def _in_slice(value: Any, slice_id: str, by_id: dict[str, Any]) -> bool:
    """Whether a repetition belongs to the slice ``slice_id``, by the slicing's discriminators:
    at each discriminator path (``$this``, ``code``, ``coding.system``) the slice's fixed or
    pattern value matches, or, where the slice gives none there, its required binding does."""
    slicing = (by_id.get(slice_id.rsplit(":", 1)[0]) or {}).get("slicing") or {}
    paths = [d["path"] for d in slicing.get("discriminator", [])] or ["$this"]
    for p in paths:
        rel = "" if p == "$this" else p
        e = by_id.get(f"{slice_id}.{rel}" if rel else slice_id)
        if e is None:
            continue
        found = _at(value, rel)
        rule = _fixed_or_pattern(e)
        binding = e.get("binding") or {}
        if rule:
            ok = any(_matches(*rule, v) for v in found)
        elif binding.get("strength") == "required":
            ok = any(_in_value_set(v, binding["valueSet"]) is True for v in found)
        else:
            ok = True
        if not ok:
            return False
    return True


def _at(value: Any, rel: str) -> list[Any]:
    nodes = [value]
    for part in [p for p in rel.split(".") if p]:
        nodes = [v for n in nodes for v in _children(n, part.partition(":")[0])]
    return nodes


def _fixed_or_pattern(e: dict[str, Any]) -> tuple[str, Any] | None:
    for k, v in e.items():
        if k.startswith("fixed") and k != "fixed":
            return "fixed", v
        if k.startswith("pattern") and k != "pattern":
            return "pattern", v
    return None


def _matches(kind: str, want: Any, got: Any) -> bool:
    return want == got if kind == "fixed" else _contains(got, want)


def _contains(got: Any, pattern: Any) -> bool:
    """FHIR pattern matching: every element of the pattern is in the instance."""
    if isinstance(pattern, dict):
        return isinstance(got, dict) and all(_contains(got.get(k), v) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(got, list) and all(any(_contains(g, p) for g in got) for p in pattern)
    return got == pattern


def _values(e: dict[str, Any], value: Any, where: str, *, sliced: bool) -> list[str]:
    issues = []
    rule = _fixed_or_pattern(e)
    if rule and not _matches(*rule, value):
        issues.append(
            f"{where}: {json.dumps(value)} does not match {rule[0]} {json.dumps(rule[1])}"
        )
    binding = e.get("binding") or {}
    required = not sliced and binding.get("strength") == "required"
    if required and _in_value_set(value, binding["valueSet"]) is False:
        issues.append(f"{where}: {json.dumps(value)} is not in {binding['valueSet']}")
    return issues


def _in_value_set(value: Any, url: str) -> bool | None:
    """True/False when the fixtures enumerate the value set (codes, or whole code systems);
    None when it cannot be decided here (not in the fixtures, or it imports other sets)."""
    vs = profiles().value_sets.get(url.split("|")[0])
    if vs is None:
        return None
    allowed: set[tuple[str, str | None]] = set()
    for inc in vs.get("compose", {}).get("include", []):
        if inc.get("valueSet") or inc.get("filter") or not inc.get("system"):
            return None
        concepts = inc.get("concept")
        if concepts:
            allowed |= {(inc["system"], c["code"]) for c in concepts}
        else:
            allowed.add((inc["system"], None))  # every code of that system
    if isinstance(value, str):
        return any(code == value for _, code in allowed)
    codings = value.get("coding", []) if "coding" in value else [value]
    return any(
        (c.get("system"), c.get("code")) in allowed or (c.get("system"), None) in allowed
        for c in codings
        if isinstance(c, dict)
    )


def _constraints(e: dict[str, Any], resource: dict[str, Any], sd_id: str) -> list[str]:
    """The element's error invariants, on the resource (root element) or on each repetition of
    the element (``Patient.name.all(...)``)."""
    issues = []
    path = e["path"].replace("[x]", "")
    for c in e.get("constraint", []):
        if c.get("severity") != "error" or not c.get("expression"):
            continue
        expr = c["expression"] if "." not in path else f"{path}.all({c['expression']})"
        if evaluate(resource, expr, {}, R4) == [False]:
            issues.append(f"{sd_id} {e['id']}: invariant {c['key']} fails: {c['human']}")
    return issues
