"""CDS Hooks 2.0 services: raad's screening at the moment an EHR opens a chart or selects an
order (https://cds-hooks.hl7.org/2.0/).

The EHR sends prefetched FHIR resources (Patient, Conditions, MedicationStatements,
Observations); raad reads them as screening facts, runs the screening and interaction rules and
answers with cards (indicator info / warning / critical, a summary under 140 characters, the
reasons with their sources as detail, and raad's knowledge version as the card's source).
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from raad.clinical.errors import ClinicalInputError
from raad.clinical.screening import AgentScreen, screen
from raad.knowledge.treatment import agents, knowledge_version, normalise_code, parse_code

from .fhir_facts import SYSTEMS, facts_from_bundle

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "medications": "MedicationStatement?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
}
SERVICES = [
    {
        "hook": "patient-view",
        "id": "raad-screening",
        "title": "raad: rapid-acting antidepressant screening",
        "description": (
            "Screens the patient for nitrous oxide, ketamine, esketamine and naltrexone: "
            "contraindications, cautions, interactions and the facts still missing, each with "
            "its source."
        ),
        "prefetch": PREFETCH,
    },
    {
        "hook": "order-select",
        "id": "raad-order-check",
        "title": "raad: checks on ordering a rapid-acting antidepressant",
        "description": (
            "When nitrous oxide, ketamine, esketamine or naltrexone is selected, returns that "
            "agent's contraindications and interactions (e.g. naltrexone on the medication list "
            "when ketamine is ordered)."
        ),
        "prefetch": PREFETCH,
    },
]
INDICATOR = {"contraindicated": "critical", "caution": "warning", "eligible": "info"}


class CdsError(ValueError):
    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field}: got {value!r}; allowed: {allowed}")


class CdsRequest(BaseModel):
    """The parts of a CDS Hooks request raad reads."""

    model_config = ConfigDict(extra="allow")

    hook: str
    hookInstance: str  # noqa: N815 - the spec's name
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class Source(BaseModel):
    label: str
    url: str | None = None


class Card(BaseModel):
    """A card as CDS Hooks 2.0 defines it (the fields raad fills)."""

    uuid: str
    summary: str = Field(max_length=140)
    indicator: Literal["info", "warning", "critical"]
    detail: str | None = None
    source: Source


def _bundle(prefetch: dict[str, Any] | None) -> dict[str, Any]:
    if not prefetch:
        raise CdsError(
            "prefetch",
            None,
            f"the prefetch templates {', '.join(PREFETCH)} (raad does not query the FHIR server)",
        )
    entries = []
    for key, value in prefetch.items():
        if value is None:
            continue
        if not isinstance(value, dict) or "resourceType" not in value:
            raise CdsError(f"prefetch.{key}", type(value).__name__, "a FHIR resource or Bundle")
        if value["resourceType"] == "Bundle":
            entries += [
                {"resource": e["resource"]}
                for e in value.get("entry") or []
                if isinstance(e, dict) and e.get("resource")
            ]
        else:
            entries.append({"resource": value})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _card(agent: str, a: AgentScreen, version: str) -> Card:
    name = agents()[agent].name
    first = next((r for r in a.reasons if r.level == a.status), None)
    if a.status == "eligible":
        summary = f"{name}: no contraindication found"
        if a.missing:
            summary += " (facts missing)"
    else:
        summary = f"{name}: {a.status}" + (f" - {first.text}" if first else "")
    if len(summary) > 140:
        summary = summary[:137].rstrip() + "..."
    lines = [
        f"- **{r.level}**: {r.text}"
        + (f" (facts: {', '.join(r.facts)})" if r.facts else "")
        + f" [{', '.join(r.sources)}]"
        for r in a.reasons
    ]
    lines += [f"- **missing**: {m}" for m in a.missing]
    if a.regimens:
        lines.append("- regimens: " + "; ".join(f"{k}: {v}" for k, v in a.regimens.items()))
    lines.append("\nraad supports clinical judgement and never replaces it.")
    indicator = INDICATOR[a.status]
    if a.status == "eligible" and a.missing:
        indicator = "info"
    return Card(
        uuid=str(uuid.uuid4()),
        summary=summary,
        indicator=indicator,
        detail="\n".join(lines),
        source=Source(label=f"raad knowledge base {version}"),
    )


def _ordered_agents(context: dict[str, Any]) -> list[str]:
    draft = context.get("draftOrders") or {}
    selections = set(context.get("selections") or [])
    table = {a.id: [x.lower() for x in (*a.aliases, a.id)] for a in agents().values()}
    codes = {a.id: [parse_code(c) for c in a.codes] for a in agents().values()}
    found: list[str] = []
    for e in draft.get("entry") or []:
        r = (e or {}).get("resource") or {}
        ref = f"{r.get('resourceType')}/{r.get('id')}"
        if selections and ref not in selections:
            continue
        concept = r.get("medicationCodeableConcept") or {}
        text = " ".join(
            [concept.get("text") or ""]
            + [c.get("display") or "" for c in concept.get("coding") or []]
        ).lower()
        coded = {
            (SYSTEMS.get(c.get("system") or ""), normalise_code(c.get("code") or ""))
            for c in concept.get("coding") or []
        }
        for agent, refs in codes.items():
            if any((ref.system, ref.code) in coded for ref in refs) and agent not in found:
                found.append(agent)
        for agent, aliases in table.items():
            if any(re.search(rf"(?<![a-z]){re.escape(al)}(?![a-z])", text) for al in aliases):
                if agent == "ketamine" and re.search(r"esketamine|spravato", text):
                    continue
                if agent not in found:
                    found.append(agent)
    return found


def call(service_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """The response to one hook call: ``{"cards": [...]}``."""
    service = next((s for s in SERVICES if s["id"] == service_id), None)
    if service is None:
        raise CdsError("service", service_id, f"one of {', '.join(s['id'] for s in SERVICES)}")
    try:
        req = CdsRequest.model_validate(request)
    except Exception as exc:  # pydantic ValidationError
        err = exc.errors()[0]  # type: ignore[attr-defined]
        raise CdsError(".".join(str(p) for p in err["loc"]), err.get("input"), err["msg"]) from None
    if req.hook != service["hook"]:
        raise CdsError("hook", req.hook, service["hook"])
    try:
        read = facts_from_bundle(_bundle(req.prefetch), as_of=date.today())
    except ClinicalInputError as exc:
        raise CdsError(exc.field.replace("bundle.", "prefetch."), exc.value, exc.allowed) from None
    result = screen(read.facts)
    version = knowledge_version()
    if service["hook"] == "order-select":
        wanted = _ordered_agents(req.context)
    else:
        wanted = list(result.agents)
    cards = [_card(a, result.agents[a], version) for a in wanted]
    if result.unrecognised:
        cards.append(
            Card(
                uuid=str(uuid.uuid4()),
                summary="raad: some conditions or medications matched no screening rule",
                indicator="info",
                detail="Check these yourself: " + "; ".join(result.unrecognised),
                source=Source(label=f"raad knowledge base {version}"),
            )
        )
    return {"cards": [c.model_dump(exclude_none=True) for c in cards]}
