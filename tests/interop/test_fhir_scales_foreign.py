"""QuestionnaireResponses from other systems, re-created from their published examples.

- US Core 6.1.0 PHQ-9 example (``QuestionnaireResponse/phq-9-example``; also in the HL7 US
  Behavioral Health Profiles IG as ``phq-9-example-1``): LOINC linkIds with a leading "/",
  LOINC answer codes, a total item 44261-6 (valueDecimal 12) and item 10 (69722-7).
- US Behavioral Health Profiles IG ``C-SSRS-example-1``: every question answered "No"
  (LA32-8), including those the skip logic skips, and a stated risk level 93374-7 "Low".
HL7 IG content is published under CC0.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raad import scales
from raad.interop import fhir_scales as fs
from raad.scales import ScaleInputError

LOINC = "http://loinc.org"

FREQ = {
    0: ("LA6568-5", "Not at all"),
    1: ("LA6569-3", "Several days"),
    2: ("LA6570-1", "More than half the days"),
    3: ("LA6571-9", "Nearly every day"),
}
PHQ9_LOINC = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]  # US Core example order (items 1, 2, 3, ... by LOINC)


def coding(code, display):
    return {"valueCoding": {"system": LOINC, "code": code, "display": display}}


def us_core_phq9(values=(2, 2, 2, 2, 1, 1, 2, 0, 0), total=12, **over):
    items = [
        {"linkId": f"/{code}", "answer": [coding(*FREQ[v])]}
        for code, v in zip(PHQ9_LOINC, values, strict=True)
    ]
    items.append({"linkId": "/44261-6", "answer": [{"valueDecimal": total}]})
    items.append({"linkId": "/69722-7", "answer": [coding("LA6573-5", "Somewhat difficult")]})
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://hl7.org/fhir/us/core/Questionnaire/phq-9-example|6.1.0",
        "status": "completed",
        "item": items,
    } | over


def test_us_core_phq9_example_scores_12_moderate_no_suicide_flag():
    read = fs.read_response(us_core_phq9())
    s = read.score
    assert read.matched_by == "loinc"
    assert s.instrument == "PHQ-9" and s.total == 12 and s.severity == "moderate"
    assert not s.suicide_flag and s.complete
    assert read.stated == {"total": 12.0} and read.disagreements == ()
    assert "10" in s.extra  # the difficulty item (69722-7) is read, not scored


def test_a_stated_total_that_disagrees_is_shown_not_trusted():
    read = fs.read_response(us_core_phq9(total=9))
    assert read.score.total == 12
    assert read.disagreements and "states a total of 9" in read.disagreements[0]


def test_loinc_item9_answered_twice_is_refused():
    qr = us_core_phq9()
    qr["item"].append({"linkId": "/44260-8", "answer": [coding(*FREQ[0])]})
    qr["item"][8]["answer"] = [coding(*FREQ[3])]
    with pytest.raises(ScaleInputError, match="answered twice"):
        fs.read_response(qr)


def test_items_inside_a_group_and_without_the_slash_are_read():
    flat = us_core_phq9(values=(3, 3, 3, 3, 3, 3, 3, 3, 1), total=25)
    grouped = dict(
        flat,
        item=[
            {
                "linkId": "/44249-1",
                "item": [dict(i, linkId=i["linkId"].lstrip("/")) for i in flat["item"]],
            }
        ],
    )
    s = fs.read_response(grouped).score
    assert s.total == 25 and s.severity == "severe" and s.suicide_flag


def test_unknown_items_are_listed_not_silently_dropped():
    qr = us_core_phq9()
    qr["item"].append({"linkId": "/99999-9", "answer": [{"valueInteger": 1}]})
    read = fs.read_response(qr)
    assert ("/99999-9", "not an item of PHQ-9") in read.unused
    assert read.score.total == 12


def test_an_unknown_answer_code_names_the_item_and_the_allowed_codes():
    qr = us_core_phq9()
    qr["item"][0]["answer"] = [coding("LA9999-9", "Sometimes")]
    with pytest.raises(ScaleInputError) as exc:
        fs.read_response(qr)
    assert exc.value.field == "item /44250-9" and "LA6568-5" in exc.value.allowed


def test_a_coding_with_an_ordinal_value_is_read_by_its_weight():
    qr = us_core_phq9()
    qr["item"][0]["answer"] = [
        {
            "valueCoding": {
                "system": "http://example.org/site-codes",
                "code": "often",
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                        "valueDecimal": 3,
                    }
                ],
            }
        }
    ]
    assert fs.read_response(qr).score.items["1"] == 3


CSSRS = ["93246-7", "93247-5", "93248-3", "93249-1", "93250-9", "93267-3", "93269-9"]


def us_bh_cssrs(answers=None, risk=("LA9194-7", "Low")):
    answers = answers or {c: 0 for c in CSSRS}
    yes_no = {0: ("LA32-8", "No"), 1: ("LA33-6", "Yes")}
    items = [{"linkId": f"/{c}", "answer": [coding(*yes_no[v])]} for c, v in answers.items()]
    items.append({"linkId": "/93374-7", "answer": [coding(*risk)]})
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "https://www.cms.gov/files/document/cssrs-screen-version-instrument.pdf",
        "status": "completed",
        "item": items,
    }


def test_us_bh_cssrs_example_all_no_is_negative_and_its_stated_low_is_shown():
    read = fs.read_response(us_bh_cssrs())
    assert read.score.instrument == "C-SSRS" and read.score.risk == "negative"
    assert not read.score.suicide_flag
    assert read.stated == {"risk": "Low"}
    assert read.disagreements == ("the response states risk 'Low'; raad grades 'negative'",)


def test_us_bh_cssrs_with_recent_behaviour_is_high():
    answers = {c: 0 for c in CSSRS} | {"93267-3": 1, "93269-9": 1}
    read = fs.read_response(us_bh_cssrs(answers, risk=("LA9193-9", "High")))
    assert read.score.risk == "high" and read.score.suicide_flag


def test_a_foreign_response_with_no_known_items_names_the_questionnaire():
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": "http://example.org/Questionnaire/x",
        "item": [{"linkId": "q1", "answer": [{"valueInteger": 1}]}],
    }
    with pytest.raises(ScaleInputError) as exc:
        fs.read_response(qr)
    assert exc.value.field == "questionnaire" and "LOINC" in exc.value.allowed


# Any valid PHQ-9 item vector, sent the way US Core sends it (LOINC linkIds and answer codes),
# flat or inside a group, with or without the leading "/", scores as the dict API does.


@given(
    st.lists(st.integers(0, 3), min_size=9, max_size=9),
    st.booleans(),
    st.booleans(),
    st.none() | st.integers(0, 3),
)
def test_loinc_form_scores_as_the_dict_api(values, grouped, slash, item10):
    want = scales.score(
        "PHQ-9",
        {str(i): v for i, v in enumerate(values, 1)}
        | ({"10": item10} if item10 is not None else {}),
    )
    items = [
        {"linkId": ("/" if slash else "") + code, "answer": [coding(*FREQ[v])]}
        for code, v in zip(PHQ9_LOINC, values, strict=True)
    ]
    difficulty = ["LA6572-7", "LA6573-5", "LA6575-0", "LA6574-3"]
    if item10 is not None:
        items.append({"linkId": "/69722-7", "answer": [coding(difficulty[item10], "x")]})
    if grouped:
        items = [{"linkId": "/44249-1", "item": items}]
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": items,
        "questionnaire": "http://example.org/any-site/phq9",
    }
    assert fs.read_response(qr).score == want
