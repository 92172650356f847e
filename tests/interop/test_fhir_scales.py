"""FHIR R4 Questionnaire / QuestionnaireResponse / Observation for every instrument."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from raad import scales
from raad.interop import fhir_scales as fs
from raad.scales import ScaleInputError

WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def reparse(resource, cls):
    """Serialise to JSON and validate again: what leaves raad must parse as FHIR."""
    return cls.model_validate_json(resource.model_dump_json(exclude_none=True))


@pytest.mark.parametrize("name", scales.names())
def test_questionnaire_validates_and_lists_every_item(name):
    instr = scales.get(name)
    q = reparse(fs.questionnaire(name), Questionnaire)
    links = [i.linkId for i in q.item]
    for item in instr.items:
        assert any(link == item.id or link.startswith(item.id) for link in links)
    assert q.url == fs.canonical(instr)
    if instr.loinc.panel:
        assert q.code[0].code == instr.loinc.panel
    else:
        assert "LOINC" in q.description


def test_phq9_uses_loinc_item_and_answer_codes():
    q = fs.questionnaire("PHQ-9")
    assert q.code[0].code == "44249-1"
    first = q.item[0]
    assert first.code[0].code == "44250-9"
    assert [o.valueCoding.code for o in first.answerOption] == [
        "LA6568-5",
        "LA6569-3",
        "LA6570-1",
        "LA6571-9",
    ]


def test_observation_total_is_loinc_coded_where_a_code_exists():
    s = scales.score("PHQ-9", {str(i): 2 for i in range(1, 10)})
    obs = reparse(
        fs.total_observation(
            s, subject="Patient/p1", effective=WHEN, derived_from="QuestionnaireResponse/q1"
        ),
        Observation,
    )
    assert obs.code.coding[0].system == fs.LOINC and obs.code.coding[0].code == "44261-6"
    assert obs.valueQuantity.value == 18 and obs.interpretation[0].text == "moderately severe"
    assert obs.category[0].coding[0].code == "survey"
    m = scales.score("MADRS", {str(i): 1 for i in range(1, 11)})
    obs = fs.total_observation(m, effective=WHEN)
    assert obs.code.coding[0].system == fs.SCALE_SYSTEM


def test_naive_datetimes_are_refused():
    s = scales.score("PHQ-9", {str(i): 2 for i in range(1, 10)})
    with pytest.raises(ScaleInputError, match="authored"):
        fs.questionnaire_response(s, authored=datetime(2026, 1, 1))
    with pytest.raises(ScaleInputError, match="effective"):
        fs.total_observation(s, effective=datetime(2026, 1, 1))


@st.composite
def scored(draw, name=None):
    names = [n for n in scales.names() if scales.get(n).total.rule != "none"]
    name = name or draw(st.sampled_from(names))
    instr = scales.get(name)
    r = {}
    for item in instr.items:
        key = item.id + (draw(st.sampled_from(sorted(item.variants))) if item.variants else "")
        values = st.integers(item.min, item.max)
        if item.not_scored:  # HAM-D 16: 3 = not assessed
            values = values | st.sampled_from(sorted(item.not_scored))
        r[key] = draw(values)
    for ex in instr.extra_items:
        if draw(st.booleans()):
            r[ex.id] = draw(st.integers(ex.min, ex.max))
    return instr.score(r)


@settings(max_examples=150, deadline=None)
@given(scored())
def test_round_trip_fhir_to_score_gives_the_same_score(score):
    qr = reparse(
        fs.questionnaire_response(score, subject="Patient/p1", authored=WHEN), QuestionnaireResponse
    )
    back = fs.score_from_response(qr)
    assert back == score
    assert back.total == score.total


def test_incomplete_response_round_trips_as_in_progress():
    s = scales.score("MADRS", {"1": 2, "2": 3}, allow_incomplete=True)
    qr = fs.questionnaire_response(s, authored=WHEN)
    assert qr.status == "in-progress"
    back = fs.score_from_response(qr)
    assert back.total is None and back.missing == s.missing
    with pytest.raises(ScaleInputError):
        fs.total_observation(s, effective=WHEN)


def test_foreign_questionnaires_and_codes_are_reported():
    with pytest.raises(ScaleInputError, match="questionnaire"):
        fs.score_from_response(
            {
                "resourceType": "QuestionnaireResponse",
                "status": "completed",
                "questionnaire": "http://example.org/Questionnaire/x",
            }
        )
    bad = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": fs.CANONICAL + "PHQ-9",
        "item": [
            {"linkId": "1", "answer": [{"valueCoding": {"system": fs.LOINC, "code": "LA0000-0"}}]}
        ],
    }
    with pytest.raises(ScaleInputError, match="LA0000-0"):
        fs.score_from_response(bad)


def test_cssrs_risk_level_round_trip_and_observation():
    s = scales.score("C-SSRS", {"1": 1, "2": 1, "3": 0, "4": 1, "5": 0, "6": 0})
    qr = reparse(fs.questionnaire_response(s, authored=WHEN), QuestionnaireResponse)
    assert fs.score_from_response(qr) == s
    obs = fs.total_observation(s, effective=WHEN)
    assert obs.valueCodeableConcept.text == "high"
    assert obs.code.coding[0].code == "93374-7"
    q = fs.questionnaire("C-SSRS")
    gated = {i.linkId: i.enableWhen for i in q.item if i.enableWhen}
    assert set(gated) == {"3", "4", "5", "6b"}
    assert gated["6b"][0].question == "6"


def _phq9_items(values: dict[str, int]) -> list[dict]:
    return [{"linkId": k, "answer": [{"valueInteger": v}]} for k, v in values.items()]


PHQ9_ALL_ZERO_BUT_9 = {str(i): 0 for i in range(1, 9)} | {"9": 3}


def test_an_item_answered_twice_is_refused_so_a_suicide_answer_is_never_dropped():
    """PHQ-9 item 9 = 3 followed by item 9 = 0 once scored as no suicide flag."""
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": fs.CANONICAL + "PHQ-9",
        "item": [
            *_phq9_items(PHQ9_ALL_ZERO_BUT_9),
            {"linkId": "9", "answer": [{"valueInteger": 0}]},
        ],
    }
    with pytest.raises(ScaleInputError, match="item 9"):
        fs.score_from_response(qr)


def test_an_entered_in_error_response_is_not_scored():
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "entered-in-error",
        "questionnaire": fs.CANONICAL + "PHQ-9",
        "item": _phq9_items(PHQ9_ALL_ZERO_BUT_9),
    }
    with pytest.raises(ScaleInputError, match="status"):
        fs.score_from_response(qr)


def test_items_inside_groups_and_a_versioned_canonical_are_read():
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": fs.CANONICAL + "PHQ-9|1.0",
        "item": [{"linkId": "g", "item": _phq9_items(PHQ9_ALL_ZERO_BUT_9)}],
    }
    s = fs.score_from_response(qr)
    assert s.total == 3 and s.suicide_flag


@pytest.mark.parametrize("name", ["HAMD-17", "HAMD-21"])
def test_hamd_item16_not_assessed_survives_export_and_import(name):
    """16A = 3 (not assessed) adds 0 (CamCOPS hamd.py) but leaves raad as 3, and comes back."""
    instr = scales.get(name)
    r = {it.id + min(it.variants, default=""): 1 for it in instr.items}
    r["16A"] = 3
    s = instr.score(r)
    assert s.not_assessed == {"16": 3} and s.complete
    qr = reparse(fs.questionnaire_response(s, authored=WHEN), QuestionnaireResponse)
    sent = {i.linkId: i.answer[0] for i in qr.item}
    assert sent["16A"].valueInteger == 3
    back = fs.score_from_response(qr)
    assert back == s


SUM_INSTRUMENTS = [n for n in scales.names() if fs.total_expression(scales.get(n))]


def test_sum_instruments_have_a_calculated_total_and_sdc_answer_weights():
    assert {"PHQ-9", "MADRS", "HAMD-17", "HAMD-21", "CADSS"} <= set(SUM_INSTRUMENTS)
    assert "QIDS-SR16" not in SUM_INSTRUMENTS and "C-SSRS" not in SUM_INSTRUMENTS
    q = fs.questionnaire("PHQ-9").model_dump(mode="json", exclude_none=True)
    assert q["version"] and q["copyright"] == scales.get("PHQ-9").text_licence
    total = next(i for i in q["item"] if i["linkId"] == "total")
    assert total["readOnly"] and total["code"][0]["code"] == "44261-6"
    assert total["extension"][0]["url"] == fs.CALCULATED
    first = q["item"][0]["answerOption"]
    weights = [
        next(e["valueDecimal"] for e in o["extension"] if e["url"] == fs.ORDINAL_VALUE)
        for o in first
    ]
    assert weights == [0, 1, 2, 3]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SUM_INSTRUMENTS).flatmap(lambda n: scored(name=n)))
def test_the_calculated_expression_gives_raads_total(score):
    """A FHIRPath engine (fhirpathpy) running the Questionnaire's calculatedExpression on the
    response gives the total raad computes, HAM-D 16 = 3 (not assessed) included."""
    fhirpathpy = pytest.importorskip("fhirpathpy")
    if score.total is None:
        return
    qr = fs.questionnaire_response(score, authored=WHEN).model_dump(mode="json", exclude_none=True)
    qr["item"] = [i for i in qr["item"] if i["linkId"] != "total"]
    expression = fs.total_expression(scales.get(score.instrument))
    got = fhirpathpy.evaluate(qr, expression, {"resource": qr})
    assert got == [score.total]
    # with one item unanswered the expression gives no total, as raad does
    qr["item"] = qr["item"][1:]
    assert fhirpathpy.evaluate(qr, expression, {"resource": qr}) == []


@pytest.mark.parametrize("name", scales.names())
def test_items_always_asked_are_required(name):
    instr = scales.get(name)
    q = fs.questionnaire(name).model_dump(mode="json", exclude_none=True)
    required = {i["linkId"] for i in q["item"] if i.get("required")}
    want = {i.id for i in instr.items if not i.variants and not instr.alternates(i.id)}
    assert required == want
    if name == "HAMD-17":
        assert "16A" not in required and "1" in required
    if name == "QIDS-SR16":
        assert not {"6", "7", "8", "9"} & required


@pytest.mark.parametrize("name", scales.names())
def test_every_enable_when_names_an_earlier_item_and_one_of_its_answers(name):
    q = fs.questionnaire(name).model_dump(mode="json", exclude_none=True)
    seen: dict[str, dict] = {}
    for item in q["item"]:
        for cond in item.get("enableWhen", []):
            gate = seen[cond["question"]]  # KeyError: a condition on a later or unknown item
            if "answerCoding" in cond:
                codes = [o["valueCoding"]["code"] for o in gate["answerOption"]]
                assert cond["answerCoding"]["code"] in codes, (item["linkId"], cond)
            elif "answerInteger" in cond:
                assert gate["type"] == "integer"
        seen[item["linkId"]] = item
    if name == "C-SSRS":  # 3-5 after a yes to 2, 6b after a yes to 6 (LOINC LA33-6 'Yes')
        gated = {i["linkId"]: i["enableWhen"][0] for i in q["item"] if "enableWhen" in i}
        assert {k: (v["question"], v["answerCoding"]["code"]) for k, v in gated.items()} == {
            "3": ("2", "LA33-6"),
            "4": ("2", "LA33-6"),
            "5": ("2", "LA33-6"),
            "6b": ("6", "LA33-6"),
        }
    if name == "PHQ-9":  # item 10 when the total is above 0 (CamCOPS phq9.py is_complete)
        ten = next(i for i in q["item"] if i["linkId"] == "10")
        assert ten["enableWhen"] == [{"question": "total", "operator": ">", "answerDecimal": 0}]


def test_qids_sr16_response_with_one_of_each_pair_scores():
    """A QIDS-SR16 filled in as the form is laid out (item 6 or 7, item 8 or 9) is read whole."""
    responses = {str(i): 1 for i in range(1, 17) if i not in (7, 9)} | {"6": 3}
    qr = fs.questionnaire_response(scales.score("QIDS-SR16", responses), subject="Patient/p1")
    read = fs.read_response(qr.model_dump(mode="json", exclude_none=True))
    assert read.score.complete and read.score.total == 11
    assert read.score.domains["appetite_weight"] == 3
    q = fs.questionnaire("QIDS-SR16").model_dump(exclude_none=True)
    texts = {i["linkId"]: i["text"] for i in q["item"]}
    assert "answer item 6 or item 7, not both" in texts["6"]
    assert "answer item 9 or item 8, not both" in texts["9"]  # each names its partner
    assert "answer" not in texts["5"]


def test_the_calculated_total_needs_exactly_one_variant_of_hamd_item_16():
    """Both 16A and 16B answered with item 1 left out must not add up to a 'complete' count."""
    fhirpathpy = pytest.importorskip("fhirpathpy")
    s = scales.score("HAMD-17", {str(i): 1 for i in range(1, 18) if i != 16} | {"16A": 1})
    qr = fs.questionnaire_response(s, authored=WHEN).model_dump(mode="json", exclude_none=True)
    items = [i for i in qr["item"] if i["linkId"] not in ("total", "1")]
    extra = {"linkId": "16B", "answer": [{"valueInteger": 1}]}
    qr["item"] = [*items, extra]
    expression = fs.total_expression(scales.get("HAMD-17"))
    assert fhirpathpy.evaluate(qr, expression, {"resource": qr}) == []
