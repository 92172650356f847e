"""raad's FHIR R4 CapabilityStatement (``GET /fhir/metadata``): what the server face serves,
validated with fhir.resources. It lists only what is implemented: Patient read and
$everything (by the Patient id raad's exports use: the research id), Questionnaire read and
search (by url and name), the import operation, and the FHIR Bulk Data 2.0 system and Patient
``$export`` of the de-identified cohort (``instantiates`` the Bulk Data CapabilityStatement).
The API's own bearer tokens protect it; SMART App Launch is raad acting as a client of an EHR
(``/smart/launch``), not an authorization server of its own, so no SMART security is listed.

``supportedProfile`` names, per resource type, the US Core 6.1.0 profiles the exported resources
claim in ``meta.profile`` (``fhir_export.PROFILES``, the one list of them). Types read only
inside ``$everything`` (Condition, AllergyIntolerance, Observation, QuestionnaireResponse) are
listed with their profiles and no interaction of their own. raad does not claim the US Core
Server CapabilityStatement: it does not offer US Core's searches.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from raad.knowledge.treatment import knowledge_version

from .fhir_export import PROFILES

BULK = "http://hl7.org/fhir/uv/bulkdata"  # FHIR Bulk Data Access IG 2.0.0 canonical base


def capability_statement(base_url: str, software_version: str) -> dict[str, Any]:
    """The CapabilityStatement as JSON (R4, fhirVersion 4.0.1)."""
    data = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "kind": "instance",
        "software": {"name": "raad", "version": software_version},
        "implementation": {
            "description": "raad: rapid-acting antidepressant care",
            "url": base_url,
        },
        "instantiates": [f"{BULK}/CapabilityStatement/bulk-data"],
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Bearer tokens from /auth/token; identifiers only for clinicians of the "
                    f"patient's site and admins. Knowledge version {knowledge_version()}."
                ),
                "resource": [
                    {
                        "type": "Patient",
                        "supportedProfile": list(PROFILES["Patient"]),
                        "interaction": [{"code": "read"}],
                        "operation": [
                            {
                                "name": "everything",
                                "definition": (
                                    "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                                ),
                            },
                            {
                                "name": "patient-export",
                                "definition": (f"{BULK}/OperationDefinition/patient-export"),
                            },
                        ],
                    },
                    {
                        "type": "Questionnaire",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {"name": "url", "type": "uri"},
                            {"name": "name", "type": "string"},
                        ],
                    },
                    *(
                        {
                            "type": kind,
                            "supportedProfile": list(profiles),
                            "documentation": "Returned inside Patient/$everything only.",
                        }
                        for kind, profiles in PROFILES.items()
                        if kind != "Patient"
                    ),
                ],
                "operation": [
                    {
                        "name": "export",
                        "definition": f"{BULK}/OperationDefinition/export",
                        "documentation": (
                            "GET /fhir/$export (Prefer: respond-async): the de-identified "
                            "cohort as NDJSON; admins and researchers"
                        ),
                    },
                    {
                        "name": "import",
                        "definition": f"{base_url.rstrip('/')}/OperationDefinition/import",
                        "documentation": (
                            "POST /fhir/import: a Bundle or NDJSON of Patient, Condition, "
                            "MedicationStatement and Observation"
                        ),
                    },
                ],
            }
        ],
    }
    return CapabilityStatement.model_validate(data).model_dump(mode="json", exclude_none=True)
