"""CDS Hooks 2.0 services: raad's screening at the moment an EHR opens a chart or selects an
order (https://cds-hooks.hl7.org/2.0/).

The EHR sends prefetched FHIR resources; raad reads them with the one FHIR reader
(``raad.interop.fhir_read``), runs the screening and answers with cards (indicator info /
warning / critical, a summary under 140 characters, the reasons with their sources and the
records they rest on as detail, and raad's knowledge version as the card's source).

Absent data is never "no contraindication": following the specification ("Prefetch" and "HTTP
Status Codes"), a prefetch key the EHR did not send, or sent as an OperationOutcome, is fetched
from ``fhirServer`` with the ``fhirAuthorization`` access token (``fetch`` below); when that is
not possible the call fails with ``CdsPreconditionError`` (HTTP 412). A key sent as ``null``
means the EHR has no such data, which is what it says.

Cards: critical for a contraindicated agent, warning for a caution, info when only facts are
missing; an eligible agent gets no card unless the request asks for one (extension
``raad-show-eligible: true``), to spare the clinician alert fatigue.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raad.clinical.errors import ClinicalInputError
from raad.clinical.screening import AgentScreen, Entry, entry_concepts, screen
from raad.knowledge.treatment import agents, knowledge_version

from . import fhir_read

# Templates real EHRs accept: one resource type per query, Observation searches by category.
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "vitalSigns": "Observation?patient={{context.patientId}}&category=vital-signs",
    "laboratory": "Observation?patient={{context.patientId}}&category=laboratory",
    "socialHistory": "Observation?patient={{context.patientId}}&category=social-history",
}
# Keys whose data some FHIR servers do not offer: when they cannot be had the cards say so.
OPTIONAL_KEYS = frozenset({"medicationStatements", "socialHistory"})
SHOW_ELIGIBLE = "raad-show-eligible"
UNRECOGNISED_SHOWN = 15  # entries listed in a card's detail before "and N more"
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
            "agent's contraindications and interactions, including with the other draft orders "
            "(e.g. naltrexone ordered or listed when ketamine is ordered)."
        ),
        "prefetch": PREFETCH,
    },
]
INDICATOR = {"contraindicated": "critical", "caution": "warning", "eligible": "info"}
Fetch = Callable[[str, str, str | None], Any]  # (fhirServer, relative query, token) -> JSON


class CdsError(ValueError):
    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field}: got {value!r}; allowed: {allowed}")


class CdsPreconditionError(CdsError):
    """The data a service needs could be neither prefetched nor fetched (HTTP 412)."""


class CdsRequest(BaseModel):
    """The parts of a CDS Hooks request raad reads."""

    model_config = ConfigDict(extra="allow")

    hook: str
    hookInstance: str  # noqa: N815 - the spec's name
    context: dict[str, Any]
    fhirServer: str | None = None  # noqa: N815
    fhirAuthorization: dict[str, Any] | None = None  # noqa: N815
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None


class Source(BaseModel):
    label: str
    url: str | None = None


# Why a clinician may override a card (CDS Hooks 2.0 Card.overrideReasons, sent back with
# feedback); raad's own codes, not from a terminology.
OVERRIDE_SYSTEM = "urn:raad:cds:override-reason"
OVERRIDE_REASONS = [
    {
        "system": OVERRIDE_SYSTEM,
        "code": "benefit-outweighs-risk",
        "display": "Benefit outweighs the risk",
    },
    {"system": OVERRIDE_SYSTEM, "code": "already-addressed", "display": "Already addressed"},
    {
        "system": OVERRIDE_SYSTEM,
        "code": "data-wrong",
        "display": "The record is wrong or out of date",
    },
]


class Card(BaseModel):
    """A card as CDS Hooks 2.0 defines it (the fields raad fills)."""

    uuid: str
    summary: str = Field(max_length=140)
    indicator: Literal["info", "warning", "critical"]
    detail: str | None = None
    source: Source
    overrideReasons: list[dict[str, str]] | None = None  # noqa: N815 - the CDS Hooks name


def _query(template: str, context: dict[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        value = context.get(m.group(1))
        if not isinstance(value, str) or not value:
            raise CdsError(f"context.{m.group(1)}", value, "the id the prefetch template needs")
        return value

    return re.sub(r"\{\{context\.(\w+)\}\}", sub, template)


def _is_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _incomplete(value: Any) -> str | None:
    """Why a prefetched answer is not the whole answer, or None: an OperationOutcome in its
    place, an error or 'incomplete' outcome among a searchset's entries, or a searchset that
    has more pages (``next``) than it carries."""
    if _is_outcome(value):
        return "prefetch failed (OperationOutcome)"
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        return None
    for e in value.get("entry") or []:
        r = e.get("resource") if isinstance(e, dict) else None
        if _is_outcome(r):
            issues = [i for i in r.get("issue") or [] if isinstance(i, dict)]
            if any(
                i.get("severity") in ("error", "fatal") or i.get("code") == "incomplete"
                for i in issues
            ):
                return "the search reported an error or an incomplete result"
    if any(isinstance(x, dict) and x.get("relation") == "next" for x in value.get("link") or []):
        return "the searchset has further pages"
    return None


def _gather(req: CdsRequest, fetch: Fetch | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every resource the templates ask for: prefetched, or fetched from the FHIR server; and
    what could not be had (optional keys only)."""
    given = req.prefetch or {}
    resources: list[dict[str, Any]] = []
    unavailable: list[str] = []
    token = (req.fhirAuthorization or {}).get("access_token")
    for key, template in PREFETCH.items():
        value = given.get(key, ...)
        why = "not prefetched" if value is ... else _incomplete(value)
        if why is not None:
            if req.fhirServer and fetch is not None:
                try:
                    value = fetch(req.fhirServer, _query(template, req.context), token)
                except CdsError:
                    raise
                except Exception as exc:  # the FHIR server's failure, named
                    if key in OPTIONAL_KEYS:
                        unavailable.append(f"{key} ({why}; the FHIR server: {exc})")
                        continue
                    raise CdsPreconditionError(
                        f"prefetch.{key}",
                        why,
                        f"complete prefetched data, or a reachable fhirServer ({exc})",
                    ) from None
            elif key in OPTIONAL_KEYS:
                unavailable.append(f"{key} ({why})")
                continue
            else:
                raise CdsPreconditionError(
                    f"prefetch.{key}",
                    why,
                    f"the whole answer to {template!r}, or fhirServer with fhirAuthorization",
                )
        if value is None:
            continue  # the EHR has no such data
        if not isinstance(value, dict) or "resourceType" not in value:
            raise CdsError(f"prefetch.{key}", type(value).__name__, "a FHIR resource or Bundle")
        if value["resourceType"] == "Bundle":
            for e in value.get("entry") or []:
                r = e.get("resource") if isinstance(e, dict) else None
                if isinstance(r, dict) and r.get("resourceType") != "OperationOutcome":
                    resources.append(r)
        else:
            resources.append(value)
    patient_id = req.context.get("patientId")
    for r in resources:
        if r.get("resourceType") == "Patient" and patient_id and r.get("id") != patient_id:
            raise CdsError(
                "prefetch.patient", r.get("id"), f"the patient of context.patientId ({patient_id})"
            )
    return resources, unavailable


def _card(
    agent: str, a: AgentScreen, version: str, notes: list[str], unrecognised: tuple[str, ...]
) -> Card:
    name = agents()[agent].name
    only_missing = all(r.level == "missing" for r in a.reasons if r.level != "eligible")
    first = next((r for r in a.reasons if r.level == a.status), None)
    if a.status == "eligible":
        summary = f"{name}: no contraindication found in the record"
    elif a.status == "caution" and only_missing:
        summary = f"{name}: facts missing before it can be judged"
    else:
        summary = f"{name}: {a.status}" + (f" - {first.text}" if first else "")
    if len(summary) > 140:
        summary = summary[:137].rstrip() + "..."
    lines = [
        f"- **{r.level}**: {r.text}"
        + (f" (facts: {', '.join(r.facts)})" if r.facts else "")
        + (f" [{', '.join(r.sources)}]" if r.sources else "")
        for r in a.reasons
        if r.level != "missing" or r.rule is not None
    ]
    lines += [
        f"- **missing**: {m}"
        for m in a.missing
        if not m.startswith(tuple(r.text for r in a.reasons if r.rule))
    ]
    if a.regimens:
        lines.append("- regimens: " + "; ".join(f"{k}: {v}" for k, v in a.regimens.items()))
    lines += [f"- **not read**: {n}" for n in notes]
    if unrecognised:
        shown = "; ".join(unrecognised[:UNRECOGNISED_SHOWN])
        more = len(unrecognised) - UNRECOGNISED_SHOWN
        lines.append(
            "- matched no rule (check them yourself): "
            + shown
            + (f"; and {more} more (raad screen lists them all)" if more > 0 else "")
        )
    lines.append("\nraad supports clinical judgement and never replaces it.")
    indicator = INDICATOR[a.status]
    if a.status == "caution" and only_missing:
        indicator = "info"
    return Card(
        uuid=str(uuid.uuid4()),
        summary=summary,
        indicator=indicator,  # type: ignore[arg-type]
        detail="\n".join(lines),
        source=Source(label=f"raad knowledge base {version}"),
        overrideReasons=OVERRIDE_REASONS if indicator != "info" else None,
    )


def _agent_of(concepts: set[str]) -> list[str]:
    return [a for a in agents() if a in concepts or _AGENT_SUBSTANCE.get(a) in concepts]


_AGENT_SUBSTANCE = {"n2o": "nitrous_oxide"}


def _draft_entries(context: dict[str, Any]) -> tuple[list[tuple[str, Entry]], list[str]]:
    """Every draft order as (reference, medication entry), read by the FHIR reader's rules."""
    draft = context.get("draftOrders")
    if draft is None:
        return [], []
    if not isinstance(draft, dict) or draft.get("resourceType") != "Bundle":
        raise CdsError("context.draftOrders", type(draft).__name__, "a FHIR Bundle of orders")
    out: list[tuple[str, Entry]] = []
    problems: list[str] = []
    for i, e in enumerate(draft.get("entry") or []):
        r = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(r, dict):
            problems.append(f"context.draftOrders.entry[{i}]: not a resource")
            continue
        if r.get("resourceType") not in (
            "MedicationRequest",
            "MedicationStatement",
            "NutritionOrder",
            "ServiceRequest",
        ):
            continue
        try:
            entry = fhir_read.medication_entry(r, f"context.draftOrders.entry[{i}].resource")
            if entry is None and r.get("resourceType") == "ServiceRequest":
                entry = fhir_read.order_entry(r, f"context.draftOrders.entry[{i}].resource")
        except fhir_read.ElementError as exc:
            problems.append(str(exc))
            continue
        if entry is not None:
            out.append((f"{r.get('resourceType')}/{r.get('id')}", entry))
    return out, problems


def _concepts(entry: Entry) -> set[str]:
    return entry_concepts(entry, "medication")


def call(service_id: str, request: dict[str, Any], *, fetch: Fetch | None = None) -> dict[str, Any]:
    """The response to one hook call: ``{"cards": [...]}``. ``fetch`` reads a query from the
    EHR's FHIR server (``raad.interop.fhir_client.fetch``); without it, data the EHR did not
    prefetch raises ``CdsPreconditionError``."""
    service = next((s for s in SERVICES if s["id"] == service_id), None)
    if service is None:
        raise CdsError("service", service_id, f"one of {', '.join(s['id'] for s in SERVICES)}")
    try:
        req = CdsRequest.model_validate(request)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CdsError(".".join(str(p) for p in err["loc"]), err.get("input"), err["msg"]) from None
    if req.hook != service["hook"]:
        raise CdsError("hook", req.hook, service["hook"])
    if req.prefetch is None and not req.fhirServer:
        raise CdsPreconditionError(
            "prefetch", None, f"the prefetch templates {', '.join(PREFETCH)}, or fhirServer"
        )
    resources, unavailable = _gather(req, fetch)
    drafts, draft_problems = (
        _draft_entries(req.context) if service["hook"] == "order-select" else ([], [])
    )
    now = datetime.now(UTC)
    try:
        read = fhir_read.read_bundle(resources, as_of=now)
    except ClinicalInputError as exc:
        raise CdsError(exc.field.replace("bundle.", "prefetch."), exc.value, exc.allowed) from None
    facts = read.facts
    raw_selections = req.context.get("selections") or []
    if not isinstance(raw_selections, list) or not all(isinstance(x, str) for x in raw_selections):
        raise CdsError(
            "context.selections", raw_selections, "a list of references such as MedicationRequest/1"
        )
    selections = set(raw_selections)
    if drafts:  # every draft order is part of what the patient will take
        facts = facts.model_copy(
            update={"medications": [*facts.medications, *(e for _, e in drafts)]}
        )
    result = screen(facts, as_of=now.date())
    version = knowledge_version()
    notes = [*unavailable, *read.problems, *draft_problems]
    if service["hook"] == "order-select":
        wanted: list[str] = []
        for ref, entry in drafts:
            if selections and ref not in selections:
                continue
            for a in _agent_of(_concepts(entry)):
                if a not in wanted:
                    wanted.append(a)
    else:
        wanted = list(result.agents)
    show_eligible = bool((req.extension or {}).get(SHOW_ELIGIBLE))
    cards = [
        _card(a, result.agents[a], version, notes, result.unrecognised)
        for a in wanted
        if result.agents[a].status != "eligible" or show_eligible
    ]
    return {"cards": [c.model_dump(exclude_none=True) for c in cards]}
