"""raad's PHQ-9 Questionnaire in a real HL7 SDC form filler: LHC-Forms 40.1.3.

LHC-Forms (npm package ``lforms``) is the National Library of Medicine's (Lister Hill National
Center for Biomedical Communications) FHIR Questionnaire renderer, under NLM's BSD-style
licence (``vendor/lforms-40.1.3/LICENSE.md``); the files it needs to render an R4 Questionnaire
and export a QuestionnaireResponse are vendored under ``vendor/lforms-40.1.3`` (see its
README.md for where they come from). No internet is used.

What is checked, in Debian's Chromium against the real raad server (the ``server`` fixture):

- the page fetches the PHQ-9 Questionnaire from raad's FHIR API (``GET /fhir/Questionnaire``
  searchset, then ``GET /fhir/Questionnaire/{id}``) and LHC-Forms renders it;
- answers are chosen as a user does (open the item's answer list, click the answer);
- the total LHC-Forms computes on screen from raad's SDC calculatedExpression is raad's total,
  shown only once all nine items are answered (a partial sum is never shown as a score), and
  item 10 (difficulty) is shown only when that total is above 0 (its enableWhen);
- the QuestionnaireResponse LHC-Forms exports (``LForms.Util.getFormFHIRData``) is scored by
  ``raad.interop.fhir_scales.read_response`` exactly as raad scores the same answers given as a
  dict (total, severity band, suicide flag, items, item 10), and the total LHC-Forms put in the
  response agrees (no disagreements);
- the page logs no JavaScript error.

raad sends no CORS headers, so the host page and the vendored files are served by Playwright
(``page.route``, from disk) under a path of raad's own origin that raad does not serve: the
page's ``fetch`` of the Questionnaire is then same-origin and reaches the real server.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from raad import scales
from raad.interop import fhir_scales
from raad.interop.fhir_scales import LOINC, read_response

VENDOR = Path(__file__).resolve().parent / "vendor" / "lforms-40.1.3"
MOUNT = "/__lforms-40.1.3__/"  # not a raad path: answered by page.route below, never by raad
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LHC-Forms host</title>
<link rel="stylesheet" href="webcomponent/styles.css"></head>
<body><div id="form"></div>
<script src="webcomponent/assets/lib/zone.min.js"></script>
<script src="webcomponent/lhc-forms.js"></script>
<script src="fhir/R4/lformsFHIR.min.js"></script>
</body></html>
"""
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}

# nine PHQ-9 items, item 10 (None: not asked, the total being 0), the severity band (Kroenke)
VECTORS = {
    "all-zero": ([0] * 9, None, "minimal"),
    "mild-item9-zero": ([2, 1, 1, 0, 0, 1, 0, 0, 0], 1, "mild"),
    "moderate-item9-positive": ([1, 2, 0, 3, 1, 0, 2, 1, 2], 2, "moderate"),
    "all-three": ([3] * 9, 3, "severe"),
}


def _serve_vendor(route) -> None:
    rel = urlsplit(route.request.url).path[len(MOUNT) :]
    if rel == "index.html":
        route.fulfill(body=HOST_PAGE, content_type="text/html; charset=utf-8")
        return
    path = (VENDOR / rel).resolve()
    if path.is_relative_to(VENDOR) and path.is_file():
        route.fulfill(path=str(path), content_type=TYPES.get(path.suffix, "text/plain"))
    else:
        route.fulfill(status=404, body=f"{rel} is not vendored")


@pytest.fixture
def lforms_page(page, server):
    """The host page with LHC-Forms loaded: (page, the JavaScript errors it has logged)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.route(f"{server}{MOUNT}**", _serve_vendor)
    page.goto(f"{server}{MOUNT}index.html")
    page.wait_for_function(
        "() => window.LForms && LForms.lformsVersion && LForms.Util && LForms.FHIR"
        " && LForms.FHIR.R4 && customElements.get('wc-lhc-form')"
    )
    assert page.evaluate("LForms.lformsVersion") == "40.1.3"
    return page, errors


def _render_phq9(page) -> dict:
    """Fetch raad's PHQ-9 Questionnaire in the page and render it; returns the Questionnaire."""
    q = page.evaluate(
        """async () => {
            const get = async (path) => {
                const r = await fetch(path, {headers: {Accept: 'application/fhir+json'}});
                if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
                return r.json();
            };
            const bundle = await get('/fhir/Questionnaire?name=PHQ-9');
            if (bundle.total !== 1) throw new Error('PHQ-9 search gave ' + bundle.total);
            const id = bundle.entry[0].resource.id;
            const q = await get('/fhir/Questionnaire/' + encodeURIComponent(id));
            await LForms.Util.addFormToPage(q, 'form', {prepopulate: false});
            return q;
        }"""
    )
    # what the page got is what raad builds
    assert q == fhir_scales.questionnaire("PHQ-9").model_dump(mode="json", exclude_none=True)
    expect(page.locator("#form wc-lhc-form")).to_contain_text(q["title"])
    return q


def _items(q: dict) -> dict[str, dict]:
    return {i["linkId"]: i for i in q["item"]}


def _option(item: dict, value: int) -> dict:
    """The item's answerOption whose ordinalValue is ``value``."""
    return next(
        o
        for o in item["answerOption"]
        for e in o.get("extension", [])
        if e["url"] == fhir_scales.ORDINAL_VALUE and e["valueDecimal"] == value
    )


def _field(page, item: dict):
    """The item's input, by its label (LHC-Forms adds " *" to a required item's label)."""
    mark = r"( \*)?" if item.get("required") else ""
    return page.get_by_label(re.compile(rf"^{re.escape(item['text'])}{mark}$"))


def _choose(page, item: dict, value: int) -> None:
    """Open the item's answer list and click the answer whose ordinalValue is ``value``."""
    display = _option(item, value)["valueCoding"]["display"]
    field = _field(page, item)
    field.click()
    choices = page.locator("#completionOptions li")
    expect(choices).to_have_count(len(item["answerOption"]))
    # LHC-Forms shows "<prefix>. <display> - <score>", e.g. "2. More than half the days - 2"
    choices.filter(
        has_text=re.compile(rf"^\s*\d+\.\s+{re.escape(display)}(\s+-\s+\d+)?\s*$")
    ).click()
    expect(field).to_have_value(re.compile(re.escape(display)))


_QR = "LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', '#form')"


def _response(page, answered: set[str]) -> dict:
    """The form's QuestionnaireResponse once exactly the items ``answered`` carry answers
    (LHC-Forms updates its model a moment after the field shows the choice; on a busy machine
    reading it at once can miss the last answer)."""
    page.wait_for_function(
        f"""want => {{
            const qr = {_QR};
            const got = (qr.item || []).filter(i => i.answer).map(i => i.linkId).sort();
            return JSON.stringify(got) === JSON.stringify(want);
        }}""",
        arg=sorted(answered),
    )
    return page.evaluate(_QR)


@pytest.mark.parametrize(("nine", "item10", "band"), list(VECTORS.values()), ids=list(VECTORS))
def test_lhc_forms_fills_raads_phq9_and_raad_scores_its_response(lforms_page, nine, item10, band):
    page, errors = lforms_page
    q = _render_phq9(page)
    items = _items(q)
    total_field = _field(page, items["total"])
    difficulty = _field(page, items["10"])

    # nothing answered yet: no total (raad totals only a complete record), item 10 not asked
    expect(total_field).to_have_value("")
    expect(difficulty).to_have_count(0)

    for n, (link, value) in enumerate(zip([str(n) for n in range(1, 10)], nine, strict=True), 1):
        _choose(page, items[link], value)
        # recomputed after every answer: empty until the ninth, then the sum
        expect(total_field).to_have_value(str(sum(nine)) if n == 9 else "")

    responses: dict[str, int] = {str(n): v for n, v in enumerate(nine, start=1)}
    expected = scales.score("PHQ-9", responses)
    assert (expected.total, expected.severity) == (sum(nine), band)
    expect(total_field).to_have_value(f"{expected.total:g}")
    if expected.total > 0:
        expect(difficulty).to_be_visible()
        assert item10 is not None
        _choose(page, items["10"], item10)
        responses["10"] = item10
        expected = scales.score("PHQ-9", responses)
    else:
        expect(difficulty).to_have_count(0)
        assert item10 is None

    qr = _response(page, {*responses, "total"} - ({"total"} if expected.total is None else set()))
    assert qr["resourceType"] == "QuestionnaireResponse"
    assert qr["status"] == "completed", qr.get("status")
    # each answer is the LOINC answer coding of the option clicked, not only an ordinalValue
    for answered in (i for i in qr["item"] if i["linkId"] != "total"):
        (answer,) = answered["answer"]
        clicked = _option(items[answered["linkId"]], responses[answered["linkId"]])
        coding = answer["valueCoding"]
        assert (coding["system"], coding["code"]) == (LOINC, clicked["valueCoding"]["code"])
    assert [i["linkId"] for i in qr["item"]] == [
        *map(str, range(1, 10)),
        "total",
        *(["10"] if item10 is not None else []),
    ]
    read = read_response(qr)
    got = read.score
    assert read.matched_by == "canonical"
    assert got.total == expected.total
    assert got.severity == expected.severity
    assert got.suicide_flag == expected.suicide_flag == (nine[8] > 0)
    assert got.suicide_items == expected.suicide_items
    assert got.items == expected.items
    assert got.extra == expected.extra
    assert got.complete
    assert read.unused == ()
    # the total LHC-Forms computed travels in the response (LOINC 44261-6) and agrees with raad
    assert read.stated.get("total") == expected.total, read.stated
    assert read.disagreements == ()
    assert not errors, errors


def test_a_partly_filled_form_has_no_total_and_raad_refuses_it(lforms_page):
    """Items 1-9 are required in raad's Questionnaire; a response exported with three answered
    carries no total item value and raad does not score it (missing items are named)."""
    page, errors = lforms_page
    q = _render_phq9(page)
    items = _items(q)
    for link in ("1", "2", "3"):
        _choose(page, items[link], 2)
    expect(_field(page, items["total"])).to_have_value("")
    qr = _response(page, {"1", "2", "3"})
    assert "total" not in {i["linkId"] for i in qr["item"] if i.get("answer")}
    with pytest.raises(scales.ScaleInputError, match="missing 4, 5, 6, 7, 8, 9"):
        read_response(qr)
    assert not errors, errors
