"""Rating scales as HL7 FHIR R4 resources: Questionnaire, QuestionnaireResponse, Observation.

Resources are built as plain dicts and validated by ``fhir.resources`` (its R4B models, which
for these three resources match R4 4.0.1 element for element). Instruments with LOINC codes
(PHQ-9 panel 44249-1 and total 44261-6, item and answer codes; C-SSRS screener items) carry
them; the others, for which no LOINC code was found, are coded in raad's own code system
``SCALE_SYSTEM`` and say so in the Questionnaire description.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from raad.scales import Instrument, ScaleInputError, Score, get
from raad.scales.model import Answer

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SCALE_SYSTEM = "urn:raad:fhir:CodeSystem:scale"
CANONICAL = "urn:raad:fhir:Questionnaire:"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def canonical(instr: Instrument) -> str:
    return CANONICAL + instr.name


def _answer_options(
    answers: tuple[Answer, ...], lo: int, hi: int, not_scored: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    if answers:
        return [{"valueCoding": _answer_coding(a)} for a in answers]
    opts = [{"valueInteger": v} for v in range(lo, hi + 1)]
    opts += [{"valueInteger": code} for code in (not_scored or {})]
    return opts


def _answer_coding(a: Answer) -> dict[str, Any]:
    if a.loinc:
        return {"system": LOINC, "code": a.loinc, "display": a.label}
    return {"system": SCALE_SYSTEM, "code": str(a.value), "display": a.label}


def questionnaire(instr: Instrument | str) -> Questionnaire:
    """The instrument as a FHIR Questionnaire (one item per rated item; extras included)."""
    instr = get(instr) if isinstance(instr, str) else instr
    items: list[dict[str, Any]] = []
    for it in instr.items:
        linkids = [it.id + v for v in it.variants] or [it.id]
        for link in linkids:
            text = it.text or it.label
            if link != it.id:
                text = f"{it.label} ({it.variants[link[len(it.id) :]]})"
            entry: dict[str, Any] = {
                "linkId": link,
                "text": text,
                "type": "choice" if it.answers else "integer",
                "answerOption": _answer_options(it.answers, it.min, it.max, it.not_scored),
            }
            if it.loinc:
                entry["code"] = [{"system": LOINC, "code": it.loinc, "display": it.label}]
            if it.asked_if:
                gate, _, want = (p.strip() for p in it.asked_if.partition("=="))
                entry["enableWhen"] = [
                    {"question": gate, "operator": "=", "answerInteger": int(want)}
                ]
            items.append(entry)
    for ex in instr.extra_items:
        entry = {
            "linkId": ex.id,
            "text": ex.label,
            "type": "choice" if ex.answers else "integer",
            "answerOption": _answer_options(ex.answers, ex.min, ex.max),
        }
        if ex.loinc:
            entry["code"] = [{"system": LOINC, "code": ex.loinc}]
        items.append(entry)
    lo, hi = instr.total_range
    span = (
        f"Total range {lo}-{hi}."
        if instr.total.rule != "none"
        else "No total; scored as a risk level."
    )
    desc = f"{instr.title}. {span} {instr.text_licence}"
    if instr.loinc.note:
        desc += " " + instr.loinc.note
    data: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": _fhir_id(instr.name),
        "url": canonical(instr),
        "name": _fhir_id(instr.name).replace("-", ""),
        "title": instr.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": desc,
        "item": items,
    }
    code = _panel_code(instr)
    if code:
        data["code"] = [code]
    return Questionnaire.model_validate(data)


def _panel_code(instr: Instrument) -> dict[str, Any] | None:
    if instr.loinc.panel:
        return {"system": LOINC, "code": instr.loinc.panel, "display": instr.title}
    return None


def _total_code(instr: Instrument) -> dict[str, Any]:
    if instr.loinc.total:
        return {"system": LOINC, "code": instr.loinc.total, "display": f"{instr.name} total score"}
    return {
        "system": SCALE_SYSTEM,
        "code": f"{instr.name}-total",
        "display": f"{instr.name} total score",
    }


def _fhir_id(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in name)


def questionnaire_response(
    score: Score,
    *,
    subject: str | None = None,
    authored: datetime | None = None,
    response_id: str | None = None,
) -> QuestionnaireResponse:
    """A scored administration as a QuestionnaireResponse (answers as coded or integer values)."""
    instr = get(score.instrument)
    authored = authored or datetime.now(UTC)
    if authored.tzinfo is None:
        raise ScaleInputError("authored", authored.isoformat(), "an aware (UTC) datetime")
    items = []
    for it in instr.items:
        if it.id not in score.items:
            continue
        link = it.id + score.variants.get(it.id, "")
        # a "not assessed" code (HAM-D 16: 3) is exported as given, not as the 0 it adds
        value = score.not_assessed.get(it.id, score.items[it.id])
        answer = next((a for a in it.answers if a.value == value), None)
        ans = {"valueCoding": _answer_coding(answer)} if answer else {"valueInteger": value}
        items.append({"linkId": link, "text": it.label, "answer": [ans]})
    for ex in instr.extra_items:
        if ex.id in score.extra:
            value = score.extra[ex.id]
            answer = next((a for a in ex.answers if a.value == value), None)
            ans = {"valueCoding": _answer_coding(answer)} if answer else {"valueInteger": value}
            items.append({"linkId": ex.id, "text": ex.label, "answer": [ans]})
    data: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": canonical(instr),
        "status": "completed" if score.complete else "in-progress",
        "authored": authored.isoformat(),
        "item": items,
    }
    if response_id:
        data["id"] = response_id
    if subject:
        data["subject"] = {"reference": subject}
    return QuestionnaireResponse.model_validate(data)


def total_observation(
    score: Score,
    *,
    subject: str | None = None,
    effective: datetime | None = None,
    derived_from: str | None = None,
) -> Observation:
    """The total (or, for the C-SSRS screener, the risk level) as a survey Observation."""
    instr = get(score.instrument)
    effective = effective or datetime.now(UTC)
    if effective.tzinfo is None:
        raise ScaleInputError("effective", effective.isoformat(), "an aware (UTC) datetime")
    data: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "survey"}]}],
        "effectiveDateTime": effective.isoformat(),
    }
    if score.total is None and score.risk is not None:
        coding = (
            {"system": LOINC, "code": instr.loinc.risk, "display": "Suicide risk level"}
            if instr.loinc.risk
            else {"system": SCALE_SYSTEM, "code": f"{instr.name}-risk", "display": "risk level"}
        )
        data["code"] = {"coding": [coding], "text": f"{instr.name} risk level"}
        data["valueCodeableConcept"] = {"text": score.risk}
    elif score.total is not None:
        data["code"] = {"coding": [_total_code(instr)], "text": f"{instr.name} total score"}
        data["valueQuantity"] = {
            "value": score.total,
            "system": UCUM,
            "code": "{score}",
            "unit": "{score}",
        }
        if score.severity:
            data["interpretation"] = [{"text": score.severity}]
    else:
        raise ScaleInputError("score", "incomplete", "a complete score (it has no total)")
    if subject:
        data["subject"] = {"reference": subject}
    if derived_from:
        data["derivedFrom"] = [{"reference": derived_from}]
    return Observation.model_validate(data)


def score_from_response(qr: QuestionnaireResponse | dict[str, Any]) -> Score:
    """Read a QuestionnaireResponse back into a Score (the inverse of ``questionnaire_response``).

    Items nested in groups are read; a response marked entered-in-error is refused; an item
    answered twice is refused (naming it) rather than one answer silently replacing the other,
    so a positive suicide item can never be dropped by a later 0."""
    if isinstance(qr, dict):
        qr = QuestionnaireResponse.model_validate(qr)
    if qr.status == "entered-in-error":
        raise ScaleInputError(
            "status", qr.status, "a response that stands (completed, amended or in-progress)"
        )
    url = qr.questionnaire or ""
    if not url.startswith(CANONICAL):
        raise ScaleInputError(
            "questionnaire", url, f"a raad Questionnaire canonical ({CANONICAL}...)"
        )
    instr = get(url[len(CANONICAL) :].split("|")[0])
    responses: dict[str, int] = {}
    for item in _leaves(qr.item or []):
        if not item.answer:
            continue
        if len(item.answer) != 1:
            raise ScaleInputError(f"item {item.linkId}", len(item.answer), "exactly one answer")
        value = _answer_value(instr, item.linkId, item.answer[0])
        if item.linkId in responses:
            raise ScaleInputError(
                f"item {item.linkId}",
                f"answered twice ({responses[item.linkId]} and {value})",
                "one answer per item",
            )
        responses[item.linkId] = value
    return instr.score(responses, allow_incomplete=qr.status != "completed")


def _leaves(items: list[Any]) -> list[Any]:
    """Answered items, looking inside groups (``item.item``) and answers' nested items."""
    out = []
    for it in items:
        if it.answer:
            out.append(it)
        if it.item:
            out += _leaves(it.item)
    return out


def _answer_value(instr: Instrument, link: str, a: Any) -> int:
    if a.valueInteger is not None:
        return int(a.valueInteger)
    if a.valueCoding is not None:
        code = a.valueCoding
        pools = [it.answers for it in instr.items] + [ex.answers for ex in instr.extra_items]
        for pool in pools:
            for ans in pool:
                if code.system == LOINC and ans.loinc == code.code:
                    return ans.value
                if code.system == SCALE_SYSTEM and str(ans.value) == code.code:
                    return ans.value
        raise ScaleInputError(f"item {link}", f"{code.system}|{code.code}", "a known answer code")
    if a.valueBoolean is not None:
        return int(a.valueBoolean)
    raise ScaleInputError(f"item {link}", "answer without a value", "valueInteger or valueCoding")
