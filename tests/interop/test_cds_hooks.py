"""CDS Hooks 2.0: discovery, patient-view and order-select cards in the spec's shapes."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from raad.interop import cds_hooks


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    url: str | None = None
    icon: str | None = None


class _Card(BaseModel):
    """CDS Hooks 2.0 Card (https://cds-hooks.hl7.org/2.0/#card-attributes), the fields used."""

    model_config = ConfigDict(extra="forbid")
    uuid: str | None = None
    summary: str = Field(max_length=140)
    detail: str | None = None
    indicator: str = Field(pattern="^(info|warning|critical)$")
    source: _Source


class _Service(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hook: str
    id: str
    title: str | None = None
    description: str
    prefetch: dict[str, str] | None = None


def _prefetch(conditions=(), medications=(), bp=(120, 80)):
    def bundle(resources):
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in resources],
        }

    obs = [
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "component": [
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                    "valueQuantity": {"value": bp[0]},
                },
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                    "valueQuantity": {"value": bp[1]},
                },
            ],
        },
    ]
    return {
        "patient": {
            "resourceType": "Patient",
            "id": "p1",
            "gender": "female",
            "birthDate": "1980-01-01",
        },
        "conditions": bundle(
            [
                {
                    "resourceType": "Condition",
                    "subject": {"reference": "Patient/p1"},
                    "code": {"text": c},
                }
                for c in conditions
            ]
        ),
        "medications": bundle(
            [
                {
                    "resourceType": "MedicationStatement",
                    "status": "active",
                    "subject": {"reference": "Patient/p1"},
                    "medicationCodeableConcept": {"text": m},
                }
                for m in medications
            ]
        ),
        "observations": bundle(obs),
    }


def _request(hook, prefetch, context=None):
    return {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": "p1", **(context or {})},
        "prefetch": prefetch,
    }


def test_discovery_shape():
    for s in cds_hooks.SERVICES:
        _Service.model_validate(s)
    assert {s["hook"] for s in cds_hooks.SERVICES} == {"patient-view", "order-select"}


def test_patient_view_gives_a_card_per_agent_with_sources():
    out = cds_hooks.call(
        "raad-screening", _request("patient-view", _prefetch(conditions=["pneumothorax"]))
    )
    cards = [_Card.model_validate(c) for c in out["cards"]]
    n2o = next(c for c in cards if c.summary.startswith("Nitrous oxide"))
    assert n2o.indicator == "critical" and "contraindicated" in n2o.summary
    assert "[" in n2o.detail and "pneumothorax" in n2o.detail  # reasons carry their sources
    assert all("raad knowledge base" in c.source.label for c in cards)


def test_order_select_ketamine_with_naltrexone_on_the_list():
    draft = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "mr1",
                    "status": "draft",
                    "intent": "order",
                    "medicationCodeableConcept": {"text": "Ketamine 0.5 mg/kg IV over 40 min"},
                    "subject": {"reference": "Patient/p1"},
                }
            }
        ],
    }
    req = _request(
        "order-select",
        _prefetch(medications=["naltrexone 50 mg"]),
        {"draftOrders": draft, "selections": ["MedicationRequest/mr1"]},
    )
    cards = [_Card.model_validate(c) for c in cds_hooks.call("raad-order-check", req)["cards"]]
    assert [c.summary.split(":")[0] for c in cards] == ["Racemic ketamine (intravenous)"]
    assert cards[0].indicator in ("warning", "critical") and "altrexone" in cards[0].detail


def test_order_for_something_else_gives_no_card():
    draft = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "mr2",
                    "status": "draft",
                    "intent": "order",
                    "medicationCodeableConcept": {"text": "sertraline 50 mg"},
                    "subject": {"reference": "Patient/p1"},
                }
            }
        ],
    }
    req = _request(
        "order-select", _prefetch(), {"draftOrders": draft, "selections": ["MedicationRequest/mr2"]}
    )
    assert cds_hooks.call("raad-order-check", req)["cards"] == []


@pytest.mark.parametrize(
    ("service", "request_", "field"),
    [
        ("raad-screening", {"hook": "patient-view", "context": {}}, "hookInstance"),
        ("raad-screening", _request("order-select", _prefetch()), "hook"),
        ("raad-screening", _request("patient-view", None), "prefetch"),
        ("raad-screening", _request("patient-view", {"patient": "Patient/1"}), "prefetch.patient"),
        ("nope", _request("patient-view", _prefetch()), "service"),
    ],
)
def test_bad_requests_name_the_field(service, request_, field):
    with pytest.raises(cds_hooks.CdsError) as e:
        cds_hooks.call(service, request_)
    assert e.value.field == field


def test_order_select_recognises_the_rxnorm_code():
    draft = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "mr3",
                    "status": "draft",
                    "intent": "order",
                    "medicationCodeableConcept": {
                        "coding": [
                            {
                                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                "code": "2119365",
                            }
                        ]
                    },
                    "subject": {"reference": "Patient/p1"},
                }
            }
        ],
    }
    req = _request(
        "order-select", _prefetch(), {"draftOrders": draft, "selections": ["MedicationRequest/mr3"]}
    )
    cards = cds_hooks.call("raad-order-check", req)["cards"]
    assert [c["summary"].split(":")[0] for c in cards] == ["Esketamine (intranasal)"]
