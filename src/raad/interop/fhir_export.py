"""A patient's record as an HL7 FHIR R4 Bundle (``Patient/$everything``-style).

Resources: Patient (the pseudonymous research id only, unless the caller may see identifiers),
Condition and MedicationStatement for the screening facts, MedicationStatement for each
antidepressant trial (its weeks, dose adequacy, outcome and episode in a raad extension),
MedicationAdministration per session (the agent's ATC and RxNorm codes, knowledge/agents.yaml),
Observation for blood pressure (LOINC 85354-9 / 8480-6 / 8462-4), for the other screening
facts and for scale totals, QuestionnaireResponse per rating, AdverseEvent per recorded adverse
event, and Flag plus DetectedIssue per alert. Every resource is validated with
``fhir.resources`` (R4B models, identical to R4 for these resources).

US Core 6.1.0 (http://hl7.org/fhir/us/core/STU6.1): each resource a US Core profile covers
names it in ``meta.profile`` and carries what the profile requires (``PROFILES``; the
CapabilityStatement lists the same): Patient (us-core-patient), Condition
(us-core-condition-problems-health-concerns, category problem-list-item), AllergyIntolerance
(us-core-allergyintolerance), blood pressure (us-core-blood-pressure), pregnancy status
(us-core-observation-pregnancystatus: LOINC 82810-3, SNOMED CT answers), breastfeeding status
and opioid use (us-core-simple-observation), QuestionnaireResponse
(us-core-questionnaireresponse) and scale totals (us-core-observation-screening-assessment).
US Core 6.1.0 has no profile for MedicationStatement, MedicationAdministration, AdverseEvent,
Flag or DetectedIssue, nor one that fits a vitamin B12 status without a measured value: those
claim none. The codes written come from ``knowledge/record_reading.yaml`` (``export``), each one
the reader reads back.

Missing and suppressed data follow US Core's rules (General Requirements, "Missing Data";
General Guidance, "Suppressed Data"): the de-identified Patient's mandatory ``name`` is a
HumanName carrying only the DataAbsentReason extension with code ``unknown`` (not ``masked``,
which US Core says may tell the receiver more than it may know), and a sex nobody recorded is
``gender`` ``unknown``, AdministrativeGender's own code. A de-identified Bundle carries no
``timestamp``: the export's real date would bound the patient's shifted dates.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from raad.knowledge.codes import SYSTEM_URIS
from raad.knowledge.record_reading import record_reading
from raad.knowledge.treatment import agents, knowledge_version, parse_code
from raad.scales import get

from .fhir_scales import (
    QUESTIONNAIRE_RESPONSE_PROFILE,
    SCREENING_ASSESSMENT_PROFILE,
    questionnaire_response,
    total_observation,
)

SYSTEM_URLS = SYSTEM_URIS
LOINC = SYSTEM_URIS["LOINC"]
BP_PANEL = record_reading().loinc.blood_pressure_panels[0]
SYSTOLIC, DIASTOLIC = record_reading().loinc.systolic, record_reading().loinc.diastolic
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
RESEARCH_ID = "urn:raad:research-id"
MRN_SYSTEM = "urn:raad:site:{site}:mrn"
TRIAL_EXT = "urn:raad:fhir:StructureDefinition:antidepressant-trial"
HISTORY_CATEGORY = "urn:raad:fhir:CodeSystem:medication-statement-category"
FACT_SYSTEM = "urn:raad:fhir:CodeSystem:screening-fact"  # facts with no sourced LOINC code
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
PATIENT_PROFILE = US_CORE + "us-core-patient"
CONDITION_PROFILE = US_CORE + "us-core-condition-problems-health-concerns"
ALLERGY_PROFILE = US_CORE + "us-core-allergyintolerance"
BP_PROFILE = US_CORE + "us-core-blood-pressure"
PREGNANCY_PROFILE = US_CORE + "us-core-observation-pregnancystatus"
SIMPLE_OBSERVATION_PROFILE = US_CORE + "us-core-simple-observation"
# every US Core profile an exported resource may claim, by resource type (the
# CapabilityStatement's supportedProfile)
PROFILES: dict[str, tuple[str, ...]] = {
    "Patient": (PATIENT_PROFILE,),
    "Condition": (CONDITION_PROFILE,),
    "AllergyIntolerance": (ALLERGY_PROFILE,),
    "Observation": (
        BP_PROFILE,
        PREGNANCY_PROFILE,
        SIMPLE_OBSERVATION_PROFILE,
        SCREENING_ASSESSMENT_PROFILE,
    ),
    "QuestionnaireResponse": (QUESTIONNAIRE_RESPONSE_PROFILE,),
}
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
UCUM = "http://unitsofmeasure.org"
ALERT_SYSTEM = "urn:raad:fhir:CodeSystem:alert"
SESSION_SYSTEM = "urn:raad:fhir:session"  # raad's own treatment sessions (not re-imported)
DETECTED_SEVERITY = {"critical": "high", "warning": "moderate", "info": "low"}

# screening facts exported with a sourced code and coded answers (knowledge/record_reading.yaml)
CODED_FACTS = {"pregnant": "pregnancy_status", "breastfeeding": "breastfeeding_status"}
# facts with no sourced code: raad's own code, and the words fhir_read reads back
OWN_CODE_FACTS = {"opioid_use": "Current opioid use"}


def _concept(entry: dict[str, Any]) -> dict[str, Any]:
    """A stored entry as a CodeableConcept; short system names become their FHIR URIs, URIs
    are kept as they were sent."""
    out: dict[str, Any] = {}
    pairs = [(entry.get("system"), entry.get("code"))] if entry.get("code") else []
    pairs += [(c["system"], c["code"]) for c in entry.get("codings") or []]
    if pairs:
        out["coding"] = [
            {"system": SYSTEM_URLS.get(str(s).upper(), s) if s else s, "code": c} for s, c in pairs
        ]
    if entry.get("text"):
        out["text"] = entry["text"]
    return out


def _entry_status(entry: dict[str, Any], kind: str) -> str:
    if entry.get("status"):
        return entry["status"]
    if entry.get("active") is False:
        return "history" if kind == "condition" else "past"
    return "active" if kind == "condition" else "current"


def _agent_concept(agent: str) -> dict[str, Any]:
    """The agent's name with the substance's own ATC and RxNorm codes (knowledge/agents.yaml)."""
    a = agents()[agent]
    coding = [
        {"system": SYSTEM_URLS[ref.system], "code": ref.code}
        for ref in (parse_code(c) for c in a.codes)
        if ref.system in SYSTEM_URLS
    ]
    return {"text": a.name, **({"coding": coding} if coding else {})}


def _full_url(base_url: str | None, kind: str, rid: str) -> str:
    if base_url:
        return f"{base_url.rstrip('/')}/{kind}/{rid}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'raad:{kind}/{rid}')}"


def _ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


def _profile(url: str) -> dict[str, Any]:
    return {"profile": [url]}


def _coding(code: str, display: str | None = None) -> dict[str, Any]:
    """A knowledge code ("SYSTEM=code") as a FHIR Coding."""
    system, _, value = code.partition("=")
    return {
        "system": SYSTEM_URLS[system],
        "code": value,
        **({"display": display} if display else {}),
    }


def _category(system: str, code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": system, "code": code}]}]


def patient_resource(patient: dict[str, Any], identified: bool) -> dict[str, Any]:
    """The Patient (US Core Patient). Without identifiers its mandatory name is a HumanName that
    carries only the DataAbsentReason extension (US Core "Suppressed Data": code ``unknown``)."""
    rid = patient["research_id"]
    export = record_reading().export
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": rid,
        "meta": _profile(PATIENT_PROFILE),
        "identifier": [{"system": RESEARCH_ID, "value": rid}],
        # a required binding with its own "unknown" code (US Core "Missing Data")
        "gender": patient.get("sex") or export.unknown_gender,
        "name": [
            {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": export.data_absent_reason}]}
        ],
    }
    if identified and "identity" in patient:
        i = patient["identity"]
        res["identifier"].append(
            {
                "system": MRN_SYSTEM.format(site=patient["site"]),
                "value": i["mrn"],
                "type": {"text": "Medical record number"},
            }
        )
        res["name"] = [{"family": i["family_name"], "given": [i["given_name"]]}]
        if i.get("birth_date"):
            res["birthDate"] = i["birth_date"]
    return res


def fact_resources(patient: dict[str, Any], recorded: str) -> list[dict[str, Any]]:
    """Condition, MedicationStatement, AllergyIntolerance and Observation resources for the
    screening facts (US Core profiles where one fits; see the module docstring)."""
    rid = patient["research_id"]
    subject = _ref("Patient", rid)
    facts = patient["facts"]
    export = record_reading().export
    out: list[dict[str, Any]] = []
    for n, c in enumerate(facts.get("conditions", []), start=1):
        status = _entry_status(c, "condition")
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "id": f"{rid}-condition-{n}",
            "meta": _profile(CONDITION_PROFILE),
            "subject": subject,
            "clinicalStatus": {
                "coding": [
                    {
                        "system": CLINICAL_STATUS,
                        "code": "inactive" if status == "history" else "active",
                    }
                ]
            },
            "category": _category(CONDITION_CATEGORY, export.condition_category),
            "code": _concept(c),
        }
        if status == "unconfirmed":
            res["verificationStatus"] = {
                "coding": [{"system": VERIFICATION, "code": "provisional"}]
            }
        if c.get("date"):
            res["onsetDateTime"] = c["date"]
        out.append(res)
    for n, m in enumerate(facts.get("medications", []), start=1):
        status = _entry_status(m, "medication")
        res = {
            "resourceType": "MedicationStatement",
            "id": f"{rid}-medication-{n}",
            "subject": subject,
            "status": {"current": "active", "unknown": "unknown"}.get(status, "completed"),
            "medicationCodeableConcept": _concept(m),
        }
        if m.get("date"):
            res["effectivePeriod"] = {"end": m["date"]}
        out.append(res)
    if facts.get("allergies") == []:  # known: none (absent means unknown)
        out.append(
            {
                "resourceType": "AllergyIntolerance",
                "id": f"{rid}-allergy-none",
                "meta": _profile(ALLERGY_PROFILE),
                "patient": subject,
                "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
                "verificationStatus": {
                    "coding": [{"system": ALLERGY_VERIFICATION, "code": "confirmed"}]
                },
                "code": {"text": "No known allergies"},
            }
        )
    for n, a in enumerate(facts.get("allergies") or [], start=1):
        status = _entry_status(a, "condition")
        out.append(
            {
                "resourceType": "AllergyIntolerance",
                "id": f"{rid}-allergy-{n}",
                "meta": _profile(ALLERGY_PROFILE),
                "patient": subject,
                "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
                "verificationStatus": {
                    "coding": [
                        {
                            "system": ALLERGY_VERIFICATION,
                            "code": "unconfirmed" if status == "unconfirmed" else "confirmed",
                        }
                    ]
                },
                "code": _concept(a),
            }
        )
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "subject": subject,
        "effectiveDateTime": recorded,
    }
    if facts.get("systolic_mmhg") is not None and facts.get("diastolic_mmhg") is not None:
        out.append(
            _bp(f"{rid}-bp", subject, recorded, facts["systolic_mmhg"], facts["diastolic_mmhg"])
        )
    if facts.get("b12_status"):
        code = "L" if facts["b12_status"] == "low" else "N"
        out.append(  # a status, not a measured result: no US Core profile fits (module docstring)
            {
                **obs,
                "id": f"{rid}-b12",
                "category": _category(OBS_CATEGORY, export.own_code_categories["b12_status"]),
                "code": {
                    "coding": [{"system": FACT_SYSTEM, "code": "b12-status"}],
                    "text": "Vitamin B12 status",
                },
                "interpretation": [{"coding": [{"system": INTERPRETATION, "code": code}]}],
            }
        )
    for key, name in CODED_FACTS.items():
        if facts.get(key) is None:
            continue
        how = export.facts[name]
        answer = how.when_true if facts[key] else how.when_false
        out.append(
            {
                **obs,
                "id": f"{rid}-{key}",
                "meta": _profile(
                    PREGNANCY_PROFILE if name == "pregnancy_status" else SIMPLE_OBSERVATION_PROFILE
                ),
                "category": _category(OBS_CATEGORY, how.category),
                "code": {"coding": [_coding(how.code, how.display)], "text": how.display},
                "valueCodeableConcept": {
                    "coding": [_coding(answer.code, answer.display)],
                    "text": answer.display,
                },
            }
        )
    for key, text in OWN_CODE_FACTS.items():
        if facts.get(key) is not None:
            out.append(
                {
                    **obs,
                    "id": f"{rid}-{key.replace('_', '-')}",
                    "meta": _profile(SIMPLE_OBSERVATION_PROFILE),
                    "category": _category(OBS_CATEGORY, export.own_code_categories[key]),
                    "code": {
                        "coding": [{"system": FACT_SYSTEM, "code": key.replace("_", "-")}],
                        "text": text,
                    },
                    "valueBoolean": bool(facts[key]),
                }
            )
    return out


def _bp(
    rid: str, subject: dict[str, str], when: str, systolic: float, diastolic: float
) -> dict[str, Any]:
    def q(v: float) -> dict[str, Any]:
        return {"value": v, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}

    return {
        "resourceType": "Observation",
        "id": rid,
        "meta": _profile(BP_PROFILE),
        "status": "final",
        "subject": subject,
        "category": _category(OBS_CATEGORY, "vital-signs"),
        "code": {"coding": [{"system": LOINC, "code": BP_PANEL}], "text": "Blood pressure"},
        "effectiveDateTime": when,
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": SYSTOLIC}]},
                "valueQuantity": q(systolic),
            },
            {
                "code": {"coding": [{"system": LOINC, "code": DIASTOLIC}]},
                "valueQuantity": q(diastolic),
            },
        ],
    }


def history_resources(
    patient: dict[str, Any], history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    rid = patient["research_id"]
    out = []
    for n, t in enumerate(history, start=1):
        entry = {
            "text": t.get("drug"),
            "system": "ATC" if t.get("atc") else None,
            "code": t.get("atc"),
        }
        ext = []
        for key, kind in (
            ("weeks", "valueDecimal"),
            ("improvement_percent", "valueDecimal"),
            ("adequate_dose", "valueBoolean"),
            ("outcome", "valueCode"),
            ("current_episode", "valueBoolean"),
        ):
            if t.get(key) is not None:
                ext.append({"url": key, kind: t[key]})
        out.append(
            {
                "resourceType": "MedicationStatement",
                "id": f"{rid}-trial-{n}",
                "subject": _ref("Patient", rid),
                "status": "completed",
                "category": {
                    "coding": [{"system": HISTORY_CATEGORY, "code": "antidepressant-trial"}]
                },
                "medicationCodeableConcept": _concept(entry) or {"text": "unnamed antidepressant"},
                "extension": [{"url": TRIAL_EXT, "extension": ext}] if ext else [],
            }
        )
    return out


def session_resources(
    patient: dict[str, Any], s: dict[str, Any], regimen: str | None
) -> list[dict[str, Any]]:
    rid = patient["research_id"]
    subject = _ref("Patient", rid)
    sid = f"{rid}-session-{s['id']}"
    start = datetime.fromisoformat(s["start"])
    end = start + timedelta(minutes=s["duration_min"]) if s.get("duration_min") else None
    dosage: dict[str, Any] = {"route": {"text": s["route"]}}
    if s.get("n2o_fraction") is not None:
        dosage["dose"] = {
            "value": round(100 * s["n2o_fraction"], 6),
            "unit": "%",
            "system": UCUM,
            "code": "%",
        }
    elif s.get("dose_mg") is not None:
        dosage["dose"] = {"value": s["dose_mg"], "unit": "mg", "system": UCUM, "code": "mg"}
    if s.get("dose_mg_per_kg") is not None:
        dosage["text"] = f"{s['dose_mg_per_kg']:g} mg/kg"
    admin: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": sid,
        "identifier": [{"system": SESSION_SYSTEM, "value": str(s["id"])}],
        "status": "completed",
        "subject": subject,
        "medicationCodeableConcept": _agent_concept(s["agent"]),
        "effectivePeriod": {
            "start": start.isoformat(),
            **({"end": end.isoformat()} if end else {}),
        },
        "dosage": dosage,
    }
    if regimen:
        admin["note"] = [{"text": f"regimen {regimen}"}]
    out = [admin]
    if s.get("bp_pre"):
        out.append(
            _bp(
                f"{sid}-bp-pre",
                subject,
                start.isoformat(),
                s["bp_pre"]["systolic"],
                s["bp_pre"]["diastolic"],
            )
        )
    if s.get("bp_post"):
        when = (end or start).isoformat()
        out.append(
            _bp(
                f"{sid}-bp-post", subject, when, s["bp_post"]["systolic"], s["bp_post"]["diastolic"]
            )
        )
    for n, e in enumerate(s.get("adverse_events", []), start=1):
        out.append(
            {
                "resourceType": "AdverseEvent",
                "id": f"{sid}-ae-{n}",
                "actuality": "actual",
                "subject": subject,
                "date": start.isoformat(),
                "event": {"text": e["event"]},
                "severity": {"coding": [{"system": AE_SEVERITY, "code": e["severity"]}]},
                "suspectEntity": [{"instance": _ref("MedicationAdministration", sid)}],
            }
        )
    return out


def rating_resources(patient: dict[str, Any], a: dict[str, Any]) -> list[dict[str, Any]]:
    rid = patient["research_id"]
    instr = get(a["instrument"])
    score = instr.score(a["responses"], allow_incomplete=True)
    when = datetime.fromisoformat(a["administered_at"])
    qr_id = f"{rid}-rating-{a['id']}"
    qr = questionnaire_response(score, subject=f"Patient/{rid}", authored=when, response_id=qr_id)
    out = [qr.model_dump(mode="json", exclude_none=True)]
    if score.total is not None or score.risk is not None:
        obs = total_observation(
            score,
            subject=f"Patient/{rid}",
            effective=when,
            derived_from=f"QuestionnaireResponse/{qr_id}",
        )
        d = obs.model_dump(mode="json", exclude_none=True)
        d["id"] = f"{qr_id}-total"
        out.append(d)
    return out


def alert_resources(patient: dict[str, Any], a: dict[str, Any]) -> list[dict[str, Any]]:
    rid = patient["research_id"]
    aid = f"{rid}-alert-{a['id']}"
    code = {"coding": [{"system": ALERT_SYSTEM, "code": a["code"]}], "text": a["message"]}
    closed = a.get("acknowledged_at") or a.get("cleared_at")
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": f"{aid}-issue",
        "status": "final",
        "code": code,
        "severity": DETECTED_SEVERITY.get(a["level"], "low"),
        "patient": _ref("Patient", rid),
        "identifiedDateTime": a["raised_at"],
        "detail": a["message"] + (" Sources: " + ", ".join(a["sources"]) if a["sources"] else ""),
    }
    if a.get("administration_id"):
        issue["implicated"] = [
            _ref("MedicationAdministration", f"{rid}-session-{a['administration_id']}")
        ]
    if a.get("acknowledged_at"):
        issue["mitigation"] = [
            {
                "action": {
                    "text": "acknowledged"
                    + (f": {a['acknowledgement_note']}" if a.get("acknowledgement_note") else "")
                },
                "date": a["acknowledged_at"],
            }
        ]
    flag = {
        "resourceType": "Flag",
        "id": f"{aid}-flag",
        "status": "inactive" if closed else "active",
        "code": code,
        "subject": _ref("Patient", rid),
        "period": {"start": a["raised_at"], **({"end": closed} if closed else {})},
    }
    return [flag, issue]


def bundle(
    patient: dict[str, Any],
    *,
    identified: bool,
    history: list[dict[str, Any]] = (),
    sessions: list[dict[str, Any]] = (),
    regimens: dict[int, str] | None = None,
    ratings: list[dict[str, Any]] = (),
    alerts: list[dict[str, Any]] = (),
    now: datetime | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """The Bundle as JSON (validated); ``patient`` is a services view of the patient.
    ``base_url`` (the server's FHIR base, e.g. ``https://host/fhir``): each entry's fullUrl is
    ``{base_url}/{type}/{id}``, so the resources' relative references ("Patient/R-...") resolve
    inside the Bundle (FHIR R4 Bundle rules); without it, ``urn:uuid:`` names derived from the
    type and id (references then stay relative)."""
    now = now or datetime.now(UTC)
    recorded = patient.get("updated_at") or now.isoformat()
    resources = [patient_resource(patient, identified)]
    resources += fact_resources(patient, recorded)
    resources += history_resources(patient, list(history))
    for s in sessions:
        resources += session_resources(patient, s, (regimens or {}).get(s["course_id"]))
    for a in ratings:
        resources += rating_resources(patient, a)
    for a in alerts:
        resources += alert_resources(patient, a)
    data = {
        "resourceType": "Bundle",
        "type": "searchset",
        # a researcher's Bundle has no timestamp: the real export date would bound the shift
        **({"timestamp": now.isoformat()} if identified else {}),
        "meta": {"tag": [{"system": "urn:raad:knowledge-version", "code": knowledge_version()}]},
        "total": len(resources),
        "entry": [
            {
                "fullUrl": _full_url(base_url, r["resourceType"], r["id"]),
                "resource": r,
                "search": {"mode": "match" if r["resourceType"] == "Patient" else "include"},
            }
            for r in resources
        ],
    }
    return Bundle.model_validate(data).model_dump(mode="json", exclude_none=True)
