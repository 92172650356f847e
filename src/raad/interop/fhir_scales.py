"""Rating scales as HL7 FHIR R4 resources: Questionnaire, QuestionnaireResponse, Observation.

Resources are built as plain dicts and validated by ``fhir.resources`` (its R4B models, which
for these three resources match R4 4.0.1 element for element). Instruments with LOINC codes
(PHQ-9 panel 44249-1 and total 44261-6, item and answer codes; C-SSRS screener items) carry
them; the others, for which no LOINC code was found, are coded in raad's own code system
``SCALE_SYSTEM`` and say so in the Questionnaire description.

A response and a total about a patient (``subject`` given) claim the US Core 6.1.0 profiles
(http://hl7.org/fhir/us/core/STU6.1): us-core-questionnaireresponse (subject 1..1; its parent,
the SDC QuestionnaireResponse, asks for ``questionnaire`` and ``authored``: HL7/sdc
input/fsh/profiles/SDCQuestionnaireResponse.fsh) and
us-core-observation-screening-assessment (category ``survey``, subject, a value with UCUM
units). The response's ``questionnaire`` is raad's canonical, served at
``GET /fhir/Questionnaire?url=...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from raad import __version__
from raad.scales import Instrument, ScaleInputError, Score, get, names
from raad.scales.model import Answer
from raad.scales.scoring import rating_value

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SCALE_SYSTEM = "urn:raad:fhir:CodeSystem:scale"
CANONICAL = "urn:raad:fhir:Questionnaire:"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
QUESTIONNAIRE_RESPONSE_PROFILE = US_CORE + "us-core-questionnaireresponse"
SCREENING_ASSESSMENT_PROFILE = US_CORE + "us-core-observation-screening-assessment"


def canonical(instr: Instrument) -> str:
    return CANONICAL + instr.name


ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
OPTION_PREFIX = "http://hl7.org/fhir/StructureDefinition/questionnaire-optionPrefix"
CALCULATED = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
TOTAL_LINK = "total"


def _answer_options(
    answers: tuple[Answer, ...], lo: int, hi: int, not_scored: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """Coded answers carry their score as an ordinalValue extension (as US Core's PHQ-9
    Questionnaire does) so a form filler can compute the total; integer items list their
    allowed values, then any "not assessed" code."""
    if answers:
        return [
            {
                "valueCoding": _answer_coding(a),
                "extension": [
                    {"url": OPTION_PREFIX, "valueString": str(a.value)},
                    {"url": ORDINAL_VALUE, "valueDecimal": a.value},
                ],
            }
            for a in answers
        ]
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
            if alternates := instr.alternates(it.id):  # QIDS-SR16: one of items 6/7, 8/9
                text += f" (answer item {it.id} or item {' or '.join(alternates)}, not both)"
            entry: dict[str, Any] = {
                "linkId": link,
                "text": text,
                "type": "choice" if it.answers else "integer",
                # required unless it is one of several ways to answer (16A/16B, QIDS 6/7);
                # an item behind enableWhen is required only when it is asked (SDC)
                "required": link == it.id and not instr.alternates(it.id),
                "answerOption": _answer_options(it.answers, it.min, it.max, it.not_scored),
            }
            if it.loinc:
                entry["code"] = [{"system": LOINC, "code": it.loinc, "display": it.label}]
            if it.asked_if:
                gate, _, want = (p.strip() for p in it.asked_if.partition("=="))
                gate_item = instr.item(gate)
                coded = next((a for a in gate_item.answers if a.value == int(want)), None)
                # a coded gate (C-SSRS yes/no) is compared by its coding, an integer one by value
                condition = (
                    {"answerCoding": _answer_coding(coded)}
                    if coded
                    else {"answerInteger": int(want)}
                )
                entry["enableWhen"] = [{"question": gate, "operator": "=", **condition}]
            items.append(entry)
    total_item = _total_item(instr)  # before the extra items, as US Core's PHQ-9 has it
    if total_item:
        items.append(total_item)
    for ex in instr.extra_items:
        entry = {
            "linkId": ex.id,
            "text": ex.label,
            "type": "choice" if ex.answers else "integer",
            "answerOption": _answer_options(ex.answers, ex.min, ex.max),
        }
        if ex.loinc:
            entry["code"] = [{"system": LOINC, "code": ex.loinc}]
        if ex.asked_if_total_above is not None and total_expression(instr) is not None:
            entry["enableWhen"] = [
                {"question": TOTAL_LINK, "operator": ">", "answerDecimal": ex.asked_if_total_above}
            ]
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
        "version": __version__,
        "status": "active",
        "copyright": instr.text_licence,
        "subjectType": ["Patient"],
        "description": desc,
        "item": items,
    }
    code = _panel_code(instr)
    if code:
        data["code"] = [code]
    return Questionnaire.model_validate(data)


def total_expression(instr: Instrument) -> str | None:
    """FHIRPath computing the total from a QuestionnaireResponse (None where the total is not a
    plain sum, e.g. the QIDS-SR16's domain maxima). Engine-independent: coded answers are
    weighted by counting each code, integer answers summed with "not assessed" codes left out.
    """
    if instr.total.rule != "sum":
        return None
    terms: list[str] = []
    coded: dict[tuple[str, int], list[str]] = {}
    integer: dict[int, list[str]] = {}
    for it in instr.items:
        links = [it.id + v for v in it.variants] or [it.id]
        if it.answers:
            for a in it.answers:
                if a.value:
                    code = a.loinc or str(a.value)
                    coded.setdefault((code, a.value), []).extend(links)
        else:
            integer.setdefault(it.max, []).extend(links)

    def among(links: list[str]) -> str:
        return (
            "%resource.repeat(item).where(linkId in ("
            + " | ".join(f"'{x}'" for x in dict.fromkeys(links))
            + "))"
        )

    for (code, value), links in coded.items():
        count = f"{among(links)}.answer.valueCoding.where(code = '{code}').count()"
        terms.append(count if value == 1 else f"{value} * {count}")
    for top, links in integer.items():
        terms.append(
            f"{among(links)}.answer.valueInteger.where($this <= {top}).aggregate($total + $this, 0)"
        )
    # no total until every item is answered (one of 16A/16B for the HAM-D), as raad refuses to
    # total an incomplete record: a form filler never shows a partial sum as the score
    plain = [it.id for it in instr.items if not it.variants]
    checks = [f"{among(plain)}.where(answer.exists()).count() = {len(plain)}"]
    checks += [  # exactly one of an item's variants (HAM-D 16A or 16B), never both
        f"{among([it.id + v for v in it.variants])}.where(answer.exists()).count() = 1"
        for it in instr.items
        if it.variants
    ]
    return f"iif({' and '.join(checks)}, {' + '.join(terms)})"


def _total_item(instr: Instrument) -> dict[str, Any] | None:
    expression = total_expression(instr)
    if expression is None:
        return None
    return {
        "linkId": TOTAL_LINK,
        "text": f"{instr.name} total score",
        "type": "decimal",
        "readOnly": True,
        "code": [_total_code(instr)],
        "extension": [
            {
                "url": CALCULATED,
                "valueExpression": {
                    "description": f"{instr.name} total",
                    "language": "text/fhirpath",
                    "expression": expression,
                },
            }
        ],
    }


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
    # the Questionnaire's order: items, total, extra items
    if score.total is not None and total_expression(instr) is not None:
        items.append(
            {
                "linkId": TOTAL_LINK,
                "text": f"{instr.name} total score",
                "answer": [{"valueDecimal": score.total}],
            }
        )
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
    if subject:  # US Core asks for the subject: only a response about a patient claims it
        data["meta"] = {"profile": [QUESTIONNAIRE_RESPONSE_PROFILE]}
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
    if subject:  # US Core asks for the subject: only a total about a patient claims it
        data["meta"] = {"profile": [SCREENING_ASSESSMENT_PROFILE]}
        data["subject"] = {"reference": subject}
    if derived_from:
        data["derivedFrom"] = [{"reference": derived_from}]
    return Observation.model_validate(data)


ORDINAL_EXTENSIONS = (
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
)
_LOINC_CODE = re.compile(r"^\d{1,7}-\d$")


@dataclass(frozen=True)
class ResponseRead:
    """What ``read_response`` made of a QuestionnaireResponse.

    ``score``: the Score raad computes from the answers. ``matched_by``: "canonical" (a raad
    Questionnaire) or "loinc" (linkIds that are the instrument's LOINC item codes, as US Core
    and the US Behavioral Health IG send them). ``unused``: (linkId, why) for every answered
    item raad did not score. ``stated``: what the response itself says the total or risk level
    is (e.g. LOINC 44261-6, 93374-7); ``disagreements``: where that differs from raad's.
    """

    score: Score
    matched_by: str
    unused: tuple[tuple[str, str], ...] = ()
    stated: dict[str, Any] = field(default_factory=dict)
    disagreements: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score.to_dict(),
            "matched_by": self.matched_by,
            "unused": [{"linkId": k, "why": w} for k, w in self.unused],
            "stated": dict(self.stated),
            "disagreements": list(self.disagreements),
        }


def score_from_response(qr: QuestionnaireResponse | dict[str, Any]) -> Score:
    """The Score of a QuestionnaireResponse (see ``read_response`` for what is read)."""
    return read_response(qr).score


def read_response(qr: QuestionnaireResponse | dict[str, Any]) -> ResponseRead:
    """Read a QuestionnaireResponse from raad or from another system and score it.

    The instrument is found by raad's canonical (``urn:raad:fhir:Questionnaire:NAME``, a
    ``|version`` suffix allowed) or, for any other canonical, by linkIds that are LOINC item
    codes ("/44250-9" or "44250-9"). Items nested in groups are read. Answers may be
    valueCoding (a LOINC answer code such as LA6570-1, raad's own code, or any coding with an
    ordinalValue/itemWeight extension), valueInteger, a whole valueDecimal, or valueBoolean
    for yes/no items.

    Raises:
        ScaleInputError: status entered-in-error; an instrument that cannot be identified; an
            item answered twice (so a positive suicide answer is never dropped by a later 0);
            an answer that is not one of the item's allowed values.
    """
    if isinstance(qr, dict):
        qr = QuestionnaireResponse.model_validate(qr)
    if qr.status == "entered-in-error":
        raise ScaleInputError(
            "status", qr.status, "a response that stands (completed, amended or in-progress)"
        )
    leaves = _leaves(qr.item or [])
    url = qr.questionnaire or ""
    if url.startswith(CANONICAL):
        instr = get(url[len(CANONICAL) :].split("|")[0])
        keys = {it.linkId: it.linkId for it in leaves if it.linkId != TOTAL_LINK}
        matched_by = "canonical"
    else:
        instr, keys = _by_loinc(url, [it.linkId for it in leaves])
        matched_by = "loinc"
    stated_codes = {
        c: name for c, name in ((instr.loinc.total, "total"), (instr.loinc.risk, "risk")) if c
    }
    responses: dict[str, int] = {}
    unused: list[tuple[str, str]] = []
    stated: dict[str, Any] = {}
    for item in leaves:
        key = keys.get(item.linkId)
        code = _loinc_of(item.linkId) or (
            instr.loinc.total if item.linkId == TOTAL_LINK and matched_by == "canonical" else None
        )
        if item.linkId == TOTAL_LINK and matched_by == "canonical" and not instr.loinc.total:
            stated["total"] = _stated_value(item.answer[0])
            continue
        if key is None and code in stated_codes:
            stated[stated_codes[code]] = _stated_value(item.answer[0])
            continue
        if key is None:
            unused.append((item.linkId, f"not an item of {instr.name}"))
            continue
        if len(item.answer) != 1:
            raise ScaleInputError(f"item {item.linkId}", len(item.answer), "exactly one answer")
        value = _answer_value(instr, key, item.linkId, item.answer[0])
        if key in responses:
            raise ScaleInputError(
                f"item {item.linkId}",
                f"answered twice ({responses[key]} and {value})",
                "one answer per item",
            )
        responses[key] = value
    score = instr.score(responses, allow_incomplete=qr.status != "completed")
    disagreements = []
    if "total" in stated and score.total is not None and stated["total"] != score.total:
        disagreements.append(
            f"the response states a total of {stated['total']:g}; raad computes {score.total:g}"
        )
    if "risk" in stated and score.risk is not None and str(stated["risk"]).lower() != score.risk:
        disagreements.append(
            f"the response states risk '{stated['risk']}'; raad grades '{score.risk}'"
        )
    return ResponseRead(score, matched_by, tuple(unused), stated, tuple(disagreements))


def _loinc_of(link_id: str) -> str | None:
    last = link_id.rstrip("/").rsplit("/", 1)[-1]
    return last if _LOINC_CODE.match(last) else None


def _loinc_keys(instr: Instrument) -> dict[str, str]:
    out = {it.loinc: it.id for it in instr.items if it.loinc}
    out |= {ex.loinc: ex.id for ex in instr.extra_items if ex.loinc}
    return out


def _by_loinc(url: str, link_ids: list[str]) -> tuple[Instrument, dict[str, str]]:
    codes = {link: c for link in link_ids if (c := _loinc_of(link))}
    best: tuple[int, Instrument | None] = (0, None)
    for name in names():
        instr = get(name)
        known = _loinc_keys(instr)
        hits = sum(1 for c in codes.values() if c in known)
        if hits > best[0]:
            best = (hits, instr)
    instr = best[1]
    if instr is None:
        raise ScaleInputError(
            "questionnaire",
            url or "(none)",
            f"a raad Questionnaire canonical ({CANONICAL}...) or items whose linkIds are the "
            "LOINC item codes of a raad instrument (PHQ-9 44250-9..., C-SSRS 93246-7...)",
        )
    by_code = _loinc_keys(instr)
    return instr, {link: by_code[c] for link, c in codes.items() if c in by_code}


def _stated_value(a: Any) -> Any:
    if a.valueCoding is not None:
        return a.valueCoding.display or a.valueCoding.code
    for v in (a.valueInteger, a.valueDecimal, a.valueString):
        if v is not None:
            return float(v) if isinstance(v, Decimal) else v
    return None


def _leaves(items: list[Any]) -> list[Any]:
    """Answered items, looking inside groups (``item.item``) and answers' nested items."""
    out = []
    for it in items:
        if it.answer:
            out.append(it)
        if it.item:
            out += _leaves(it.item)
        for a in it.answer or []:
            if a.item:
                out += _leaves(a.item)
    return out


def _answer_value(instr: Instrument, key: str, link: str, a: Any) -> int:
    field_name = f"item {link}"
    target = instr.item_for_key(key)
    answers = target.answers if target else ()
    lo, hi = (target.min, target.max) if target else (0, 0)
    if a.valueInteger is not None:
        return int(a.valueInteger)
    if a.valueDecimal is not None:
        v = rating_value(field_name, float(a.valueDecimal), f"a whole number {lo}-{hi}")
        if v is None:
            raise ScaleInputError(field_name, a.valueDecimal, f"a whole number {lo}-{hi}")
        return v
    if a.valueCoding is not None:
        code = a.valueCoding
        for ans in answers:
            if code.system == LOINC and ans.loinc == code.code:
                return ans.value
            if code.system == SCALE_SYSTEM and str(ans.value) == code.code:
                return ans.value
        for ext in code.extension or []:
            if ext.url in ORDINAL_EXTENSIONS and ext.valueDecimal is not None:
                v = rating_value(field_name, float(ext.valueDecimal), f"a whole number {lo}-{hi}")
                if v is not None:
                    return v
        allowed = ", ".join(f"{a.loinc or a.value} ({a.label})" for a in answers) or "a known code"
        raise ScaleInputError(field_name, f"{code.system}|{code.code}", allowed)
    if a.valueBoolean is not None:
        if (lo, hi) != (0, 1):
            raise ScaleInputError(field_name, a.valueBoolean, f"a rating {lo}-{hi}, not yes/no")
        return int(a.valueBoolean)
    raise ScaleInputError(field_name, "answer without a value", "valueInteger or valueCoding")
