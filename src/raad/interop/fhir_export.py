"""A patient's record as an HL7 FHIR R4 Bundle (``Patient/$everything``-style).

Resources: Patient (the pseudonymous research id only, unless the caller may see identifiers),
Condition and MedicationStatement for the screening facts, MedicationStatement for each
antidepressant trial (its weeks, dose adequacy, outcome and episode in a raad extension),
MedicationAdministration per session, Observation for blood pressure (the HL7 vital-signs blood
pressure profile's LOINC codes 85354-9 / 8480-6 / 8462-4, https://hl7.org/fhir/r4/bp.html),
for the other screening facts and for scale totals, QuestionnaireResponse per rating,
AdverseEvent per recorded adverse event, and Flag plus DetectedIssue per alert. Every resource is
validated with ``fhir.resources`` (R4B models, identical to R4 for these resources).
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

from .fhir_scales import questionnaire_response, total_observation

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
FACT_SYSTEM = "urn:raad:fhir:CodeSystem:screening-fact"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
UCUM = "http://unitsofmeasure.org"
ALERT_SYSTEM = "urn:raad:fhir:CodeSystem:alert"
SESSION_SYSTEM = "urn:raad:fhir:session"  # raad's own treatment sessions (not re-imported)
DETECTED_SEVERITY = {"critical": "high", "warning": "moderate", "info": "low"}

# screening facts kept as boolean Observations (text is what fhir_read reads back)
BOOLEAN_FACTS = {
    "pregnant": "Pregnancy status",
    "breastfeeding": "Breastfeeding status",
    "opioid_use": "Current opioid use",
}


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


def patient_resource(patient: dict[str, Any], identified: bool) -> dict[str, Any]:
    rid = patient["research_id"]
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": rid,
        "identifier": [{"system": RESEARCH_ID, "value": rid}],
    }
    if patient.get("sex"):
        res["gender"] = patient["sex"]
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
    """Condition, MedicationStatement and Observation resources for the screening facts."""
    rid = patient["research_id"]
    subject = _ref("Patient", rid)
    facts = patient["facts"]
    out: list[dict[str, Any]] = []
    for n, c in enumerate(facts.get("conditions", []), start=1):
        status = _entry_status(c, "condition")
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "id": f"{rid}-condition-{n}",
            "subject": subject,
            "clinicalStatus": {
                "coding": [
                    {
                        "system": CLINICAL_STATUS,
                        "code": "inactive" if status == "history" else "active",
                    }
                ]
            },
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
        out.append(
            {
                **obs,
                "id": f"{rid}-b12",
                "code": {
                    "coding": [{"system": FACT_SYSTEM, "code": "b12-status"}],
                    "text": "Vitamin B12 status",
                },
                "interpretation": [{"coding": [{"system": INTERPRETATION, "code": code}]}],
            }
        )
    for key, text in BOOLEAN_FACTS.items():
        if facts.get(key) is not None:
            out.append(
                {
                    **obs,
                    "id": f"{rid}-{key.replace('_', '-')}",
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
        "status": "final",
        "subject": subject,
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
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
        "timestamp": now.isoformat(),
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
