"""CDS Hooks 2.0: discovery, patient-view and order-select cards in the spec's shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ConfigDict, Field

from raad.interop import cds_hooks, fhir_client


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    url: str | None = None
    icon: str | None = None


class _Coding(BaseModel):
    """CDS Hooks 2.0 Coding (code, system, display), as in Card.overrideReasons."""

    model_config = ConfigDict(extra="forbid")
    code: str
    system: str
    display: str


class _Card(BaseModel):
    """CDS Hooks 2.0 Card (https://cds-hooks.hl7.org/2.0/#card-attributes), the fields used."""

    model_config = ConfigDict(extra="forbid")
    uuid: str | None = None
    summary: str = Field(max_length=140)
    detail: str | None = None
    indicator: str = Field(pattern="^(info|warning|critical)$")
    source: _Source
    overrideReasons: list[_Coding] | None = None  # noqa: N815 - the CDS Hooks name


class _Service(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hook: str
    id: str
    title: str | None = None
    description: str
    prefetch: dict[str, str] | None = None


NOW = datetime.now(UTC)


def _searchset(resources):
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def _prefetch(conditions=(), medications=(), bp=(120, 80), allergies=None):
    obs = [
        {
            "resourceType": "Observation",
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": NOW.isoformat(),
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
        "conditions": _searchset(
            [
                {
                    "resourceType": "Condition",
                    "subject": {"reference": "Patient/p1"},
                    "code": {"text": c},
                }
                for c in conditions
            ]
        ),
        "medicationRequests": None,
        "medicationStatements": _searchset(
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
        "allergies": _searchset(
            [
                {
                    "resourceType": "AllergyIntolerance",
                    "patient": {"reference": "Patient/p1"},
                    "code": {"text": a},
                }
                for a in (allergies or ["No known allergies"])
            ]
        ),
        "vitalSigns": _searchset(obs),
        "laboratory": None,
        "socialHistory": None,
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
        (
            "raad-screening",
            _request("patient-view", _prefetch() | {"patient": "Patient/1"}),
            "prefetch.patient",
        ),
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


# -- absent data is fetched or refused, never "no contraindication" ---------------------------


def test_a_missing_prefetch_key_without_a_fhir_server_is_412():
    pre = _prefetch(conditions=["pneumothorax"])
    del pre["conditions"]
    with pytest.raises(cds_hooks.CdsPreconditionError) as e:
        cds_hooks.call("raad-screening", _request("patient-view", pre))
    assert e.value.field == "prefetch.conditions"


def test_an_operation_outcome_in_prefetch_is_not_read_as_no_data():
    pre = _prefetch() | {"conditions": {"resourceType": "OperationOutcome", "issue": []}}
    with pytest.raises(cds_hooks.CdsPreconditionError):
        cds_hooks.call("raad-screening", _request("patient-view", pre))


def test_missing_data_is_fetched_from_the_fhir_server(fhir_server):
    """The EHR prefetched nothing; raad reads the patient from the EHR's FHIR server (a real
    HTTP server started by the test) with the access token it was given."""
    req = _request("patient-view", None) | {
        "fhirServer": fhir_server.url,
        "fhirAuthorization": {
            "access_token": "tok-1",
            "token_type": "Bearer",
            "scope": "patient/*.read",
            "subject": "raad",
        },
    }
    req.pop("prefetch")
    out = cds_hooks.call("raad-screening", req, fetch=fhir_client.fetch)
    cards = [_Card.model_validate(c) for c in out["cards"]]
    n2o = next(c for c in cards if c.summary.startswith("Nitrous oxide"))
    assert n2o.indicator == "critical" and "pneumothorax" in n2o.detail.lower()
    assert fhir_server.tokens == {"Bearer tok-1"}
    assert any("category=vital-signs" in p for p in fhir_server.paths)


def test_a_fhir_server_that_fails_gives_412_not_an_empty_answer(fhir_server):
    req = _request("patient-view", None) | {"fhirServer": fhir_server.url + "/broken"}
    req.pop("prefetch")
    with pytest.raises(cds_hooks.CdsPreconditionError):
        cds_hooks.call("raad-screening", req, fetch=fhir_client.fetch)


def test_an_eligible_agent_gets_no_card_unless_asked():
    pre = _prefetch()
    pre["socialHistory"] = _searchset(
        [
            {
                "resourceType": "Observation",
                "status": "final",
                "subject": {"reference": "Patient/p1"},
                "effectiveDateTime": NOW.isoformat(),
                "code": {"coding": [{"system": "http://loinc.org", "code": "82810-3"}]},
                "valueCodeableConcept": {
                    "coding": [{"system": "http://loinc.org", "code": "LA26683-5"}]
                },
            }
        ]
    )
    quiet = cds_hooks.call("raad-screening", _request("patient-view", pre))["cards"]
    assert not any(c["summary"].startswith("Racemic ketamine") for c in quiet)  # eligible
    loud = cds_hooks.call(
        "raad-screening",
        _request("patient-view", pre) | {"extension": {"raad-show-eligible": True}},
    )["cards"]
    k = next(c for c in loud if c["summary"].startswith("Racemic ketamine"))
    assert k["indicator"] == "info" and "no contraindication found in the record" in k["summary"]


def _order(resource, *others):
    draft = {"resourceType": "Bundle", "entry": [{"resource": r} for r in (resource, *others)]}
    return {"draftOrders": draft, "selections": [f"MedicationRequest/{resource['id']}"]}


def test_order_select_reads_an_n2o_order_coded_only_by_atc():
    order = {
        "resourceType": "MedicationRequest",
        "id": "n1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "N01AX13"}]
        },
    }
    pre = _prefetch(conditions=["pneumothorax"])
    cards = cds_hooks.call("raad-order-check", _request("order-select", pre, _order(order)))[
        "cards"
    ]
    assert [c["summary"].split(":")[0] for c in cards] == ["Nitrous oxide (inhaled)"]
    assert cards[0]["indicator"] == "critical"


def test_order_select_reads_a_ketamine_order_through_a_contained_medication_and_a_naltrexone_draft():
    ketamine = {
        "resourceType": "MedicationRequest",
        "id": "k1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "contained": [
            {
                "resourceType": "Medication",
                "id": "m",
                "code": {
                    "coding": [
                        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6130"}
                    ]
                },
            }
        ],
        "medicationReference": {"reference": "#m"},
    }
    naltrexone = {
        "resourceType": "MedicationRequest",
        "id": "x2",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "naltrexone 50 mg tablet"},
    }
    req = _request("order-select", _prefetch(), _order(ketamine, naltrexone))
    cards = [_Card.model_validate(c) for c in cds_hooks.call("raad-order-check", req)["cards"]]
    assert [c.summary.split(":")[0] for c in cards] == ["Racemic ketamine (intravenous)"]
    assert "altrexone" in cards[0].detail and "draft order" in cards[0].detail


class _FhirServer:
    """A FHIR server on loopback serving one Synthea-shaped patient."""

    def __init__(self) -> None:
        import json as _json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.tokens: set[str] = set()
        self.paths: list[str] = []
        data = {
            "Patient": {
                "resourceType": "Patient",
                "id": "p1",
                "gender": "male",
                "birthDate": "1970-02-03",
            },
            "Condition": _searchset(
                [
                    {
                        "resourceType": "Condition",
                        "id": "c1",
                        "subject": {"reference": "Patient/p1"},
                        "clinicalStatus": {"coding": [{"code": "active"}]},
                        "code": {
                            "coding": [
                                {
                                    "system": "http://hl7.org/fhir/sid/icd-10-cm",
                                    "code": "J93.11",
                                    "display": "Primary spontaneous pneumothorax",
                                }
                            ]
                        },
                    }
                ]
            ),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.paths.append(self.path)
                owner.tokens.add(self.headers.get("Authorization", ""))
                if self.path.startswith("/broken"):
                    self.send_response(500)
                    self.end_headers()
                    return
                kind = self.path.lstrip("/").split("?")[0].split("/")[0]
                body = data.get(kind, _searchset([]))
                raw = _json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def fhir_server(monkeypatch):
    s = _FhirServer()
    monkeypatch.setenv("RAAD_CDS_FHIR_SERVERS", s.url)
    yield s
    s.httpd.shutdown()


def test_a_fhir_server_the_site_does_not_list_is_not_read(fhir_server, monkeypatch):
    """Only listed servers are read: a caller cannot send the EHR's token elsewhere or probe
    other addresses through raad."""
    monkeypatch.setenv("RAAD_CDS_FHIR_SERVERS", "https://ehr.example.org/fhir")
    req = _request("patient-view", None) | {"fhirServer": fhir_server.url}
    req.pop("prefetch")
    with pytest.raises(cds_hooks.CdsPreconditionError) as e:
        cds_hooks.call("raad-screening", req, fetch=fhir_client.fetch)
    assert "RAAD_CDS_FHIR_SERVERS" in str(e.value) and fhir_server.paths == []


def test_a_paged_or_incomplete_prefetch_is_not_read_as_the_whole_answer():
    paged = _prefetch()
    paged["conditions"] = _searchset([]) | {
        "total": 2,
        "link": [{"relation": "next", "url": "https://ehr/x?page=2"}],
    }
    with pytest.raises(cds_hooks.CdsPreconditionError) as e:
        cds_hooks.call("raad-screening", _request("patient-view", paged))
    assert e.value.field == "prefetch.conditions" and "pages" in str(e.value)
    outcome = _prefetch()
    outcome["conditions"] = _searchset(
        [
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "warning", "code": "incomplete"}],
            }
        ]
    )
    with pytest.raises(cds_hooks.CdsPreconditionError):
        cds_hooks.call("raad-screening", _request("patient-view", outcome))


def test_an_n2o_order_placed_as_a_service_request_is_checked():
    order = {
        "resourceType": "ServiceRequest",
        "id": "s1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "Nitrous oxide 50% inhalation, 60 minutes"},
    }
    draft = {"resourceType": "Bundle", "entry": [{"resource": order}]}
    req = _request(
        "order-select",
        _prefetch(conditions=["pneumothorax"]),
        {"draftOrders": draft, "selections": ["ServiceRequest/s1"]},
    )
    cards = cds_hooks.call("raad-order-check", req)["cards"]
    assert [c["summary"].split(":")[0] for c in cards] == ["Nitrous oxide (inhaled)"]
    assert cards[0]["indicator"] == "critical"


def test_a_prefetch_about_another_patient_is_refused():
    pre = _prefetch()
    pre["patient"] = pre["patient"] | {"id": "OTHER"}
    with pytest.raises(cds_hooks.CdsError) as e:
        cds_hooks.call("raad-screening", _request("patient-view", pre))
    assert e.value.field == "prefetch.patient"


def test_a_record_raad_cannot_read_gives_a_card_not_silence():
    pre = _prefetch()
    pre["medicationRequests"] = _searchset(
        [
            {
                "resourceType": "MedicationRequest",
                "id": "m1",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "medicationReference": {"reference": "Medication/not-sent"},
            }
        ]
    )
    cards = cds_hooks.call("raad-screening", _request("patient-view", pre))["cards"]
    assert len(cards) == 4 and all("could not read" in c["detail"] for c in cards)
