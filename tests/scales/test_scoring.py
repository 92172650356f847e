"""Scoring worked examples built from each instrument's published scoring rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raad import scales
from raad.scales import ScaleInputError


def hamd17(**overrides):
    r = {str(i): 1 for i in range(1, 18) if i != 16}
    r["16A"] = 1
    r.update(overrides)
    return r


def test_hamd17_sum_band_variant_and_suicide_flag():
    s = scales.score("HAMD-17", hamd17())
    assert s.total == 17 and s.severity == "moderate" and s.complete
    assert s.variants == {"16": "A"} and s.suicide_flag and s.suicide_items == ("3",)
    s = scales.score(
        "HAMD-17",
        hamd17(**{"3": 0, "1": 0, "2": 0, "7": 0, "8": 0, "9": 0, "10": 0, "11": 0, "15": 0}),
    )
    assert s.total == 8 and s.severity == "mild" and not s.suicide_flag


def test_hamd17_bands_at_their_edges():
    h = scales.get("HAMD-17")
    from raad.scales.scoring import band

    edges = {
        0: "none",
        7: "none",
        8: "mild",
        13: "mild",
        14: "moderate",
        18: "moderate",
        19: "severe",
        22: "severe",
        23: "very severe",
        52: "very severe",
    }
    for total, label in edges.items():
        assert band(h, total) == label


def test_hamd17_item16_rules():
    with pytest.raises(ScaleInputError, match="16A"):
        scales.score("HAMD-17", {**hamd17(), "16B": 1})  # both variants
    r = hamd17()
    del r["16A"]
    r["16"] = 1
    with pytest.raises(ScaleInputError, match="variant"):
        scales.score("HAMD-17", r)  # which variant?
    # 3 = not assessed adds 0 and the record is complete (CamCOPS hamd.py total_score adds
    # item 16 only "if score != 3"; q16a/q16b "3 not assessed [not scored]"); the 3 is kept.
    base = hamd17()
    s0 = scales.score("HAMD-17", base)
    for variant in ("16A", "16B"):
        r = {k: v for k, v in base.items() if not k.startswith("16")} | {variant: 3}
        s = scales.score("HAMD-17", r)
        assert s.complete and s.missing == ()
        assert s.total == s0.total - base["16A"]
        assert s.items["16"] == 0 and s.not_assessed == {"16": 3}
        assert s.variants == {"16": variant[-1]}
        assert s.to_dict()["not_assessed"] == {"16": 3}
    assert s0.not_assessed == {}


def test_response_keys_are_what_score_accepts():
    """``item_ids`` lists "16" (one item); ``response_keys`` lists the keys score() takes."""
    h = scales.get("HAMD-17")
    assert "16" in h.item_ids and "16" not in h.response_keys
    assert h.response_keys[15:17] == ("16A", "16B")
    for name in scales.names():
        instr = scales.get(name)
        for key in instr.response_keys:
            lo = 0
            # every key is accepted on its own (allow_incomplete: only this key is given)
            scales.get(name).score({key: lo}, allow_incomplete=True)


def test_hamd17_band_sets_and_their_sources():
    """Zimmerman 2013 (PMID 23759278): cutoffs 17 (mild/moderate) and 24 (moderate/severe)."""
    from raad.scales.scoring import band

    h = scales.get("HAMD-17")
    assert h.severity.default.name.startswith("CNS Forum")
    assert "zimmerman2013" not in {c.source for c in h.severity.default.cite}
    z = {b.name: b for b in h.severity.alternatives}["Zimmerman 2013"]
    assert [(b.min, b.max) for b in z.bands] == [(0, 7), (8, 16), (17, 23), (24, 52)]
    assert band(h, 16, "Zimmerman 2013") == "mild"
    assert band(h, 17, "Zimmerman 2013") == "moderate"
    assert band(h, 23, "Zimmerman 2013") == "moderate"
    assert band(h, 24, "Zimmerman 2013") == "severe"
    x = {b.name: b for b in h.severity.alternatives}["IDS/QIDS crosswalk (Rush 2003)"]
    assert [(b.min, b.max) for b in x.bands] == [(0, 7), (8, 13), (14, 19), (20, 25), (26, 52)]


@pytest.mark.parametrize(
    ("responses", "field", "words"),
    [
        ({"4": 3}, "HAMD-17 item 4", "0-2"),
        ({"1": 5}, "HAMD-17 item 1", "0-4"),
        ({"1": -1}, "HAMD-17 item 1", "0-4"),
        ({"1": "2"}, "HAMD-17 item 1", "integer"),
        ({"1": 2.5}, "HAMD-17 item 1", "integer"),
        ({"1": float("inf")}, "HAMD-17 item 1", "integer"),
        ({"1": True}, "HAMD-17 item 1", "true/false"),
        ({"1": False}, "HAMD-17 item 1", "true/false"),
        ({"99": 1}, "item", "items of HAMD-17"),
    ],
)
def test_bad_values_name_the_item_and_range(responses, field, words):
    with pytest.raises(ScaleInputError) as exc:
        scales.score("HAMD-17", {**hamd17(), **responses})
    assert exc.value.field == field
    assert words in str(exc.value)


def test_hamd21_counts_18b_not_18a():
    r = hamd17()
    r.update({"18": 2, "18A": 1, "19": 4, "20": 3, "21": 2})
    s = scales.score("HAMD-21", r)
    assert s.total == 17 + 2 + 4 + 3 + 2
    assert s.extra == {"18A": 1} and s.severity == "severe"  # 23-28 on the HRSD-21 crosswalk


def test_madrs_total_and_bands():
    s = scales.score("MADRS", {str(i): v for i, v in enumerate([3, 2, 4, 1, 2, 3, 2, 2, 1, 0], 1)})
    assert s.total == 20 and s.severity == "moderate" and not s.suicide_flag
    s = scales.score("MADRS", {str(i): 6 for i in range(1, 11)})
    assert s.total == 60 and s.severity == "severe" and s.suicide_flag


def test_qids_takes_the_highest_item_per_domain():
    values = [1, 2, 0, 3, 2, 0, 1, 3, 0, 1, 2, 0, 1, 2, 3, 1]
    s = scales.score("QIDS-SR16", {str(i): v for i, v in enumerate(values, 1)})
    assert s.domains == {
        "sleep": 3,
        "mood": 2,
        "appetite_weight": 3,
        "concentration": 1,
        "self_view": 2,
        "suicide": 0,
        "interest": 1,
        "energy": 2,
        "psychomotor": 3,
    }
    assert s.total == 17 and s.severity == "severe"
    assert sum(values) != s.total  # not a plain sum


def test_phq9_item10_and_item9_flag():
    r = {str(i): 1 for i in range(1, 10)} | {"10": 3}
    s = scales.score("PHQ-9", r)
    assert s.total == 9 and s.severity == "mild" and s.extra == {"10": 3}
    assert s.suicide_flag and s.suicide_items == ("9",)
    s = scales.score("PHQ-9", r | {"9": 0})
    assert not s.suicide_flag and s.total == 8
    with pytest.raises(ScaleInputError, match="item 10"):
        scales.score("PHQ-9", r | {"10": 4})


def test_missing_items_are_refused_never_silently_totalled():
    r = {str(i): 1 for i in range(1, 9)}
    with pytest.raises(ScaleInputError) as exc:
        scales.score("PHQ-9", r)
    assert "missing 9" in str(exc.value) and "allow_incomplete" in str(exc.value)
    s = scales.score("PHQ-9", r | {"9": None}, allow_incomplete=True)
    assert s.missing == ("9",) and s.total is None


def test_responses_must_be_a_mapping():
    with pytest.raises(ScaleInputError, match="mapping"):
        scales.score("PHQ-9", [1, 2, 3])


def test_cssrs_skip_logic_and_risk():
    neg = scales.score("C-SSRS", {"1": 0, "2": 0, "6": 0})
    assert neg.risk == "negative" and not neg.suicide_flag and neg.total is None
    pos = scales.score("C-SSRS", {"1": 1, "2": 0, "6": 0})
    assert pos.risk == "low" and pos.suicide_flag
    assert scales.score("C-SSRS", {"1": 1, "2": 1, "3": 1, "4": 1, "5": 0, "6": 0}).risk == "high"
    assert scales.score("C-SSRS", {"1": 0, "2": 0, "6": 1, "6b": 1}).risk == "high"
    assert scales.score("C-SSRS", {"1": 0, "2": 0, "6": 1, "6b": 0}).risk == "moderate"
    with pytest.raises(ScaleInputError, match="missing 3, 4, 5"):
        scales.score("C-SSRS", {"1": 1, "2": 1, "6": 0})  # a yes to 2 opens 3-5
    with pytest.raises(ScaleInputError, match="missing 6b"):
        scales.score("C-SSRS", {"1": 0, "2": 0, "6": 1})
    with pytest.raises(ScaleInputError, match="0-1"):
        scales.score("C-SSRS", {"1": 2, "2": 0, "6": 0})


@pytest.mark.parametrize(
    ("answers", "risk"),
    [
        # Columbia triage (cssrs_screener.yaml risk_levels and their sources)
        ({"1": 0, "2": 0, "6": 0}, "negative"),
        ({"1": 1, "2": 0, "6": 0}, "low"),
        ({"1": 0, "2": 1, "3": 0, "4": 0, "5": 0, "6": 0}, "low"),
        ({"1": 1, "2": 1, "3": 1, "4": 0, "5": 0, "6": 0}, "moderate"),
        ({"1": 0, "2": 0, "6": 1, "6b": 0}, "moderate"),
        ({"1": 1, "2": 1, "3": 0, "4": 1, "5": 0, "6": 0}, "high"),
        ({"1": 1, "2": 1, "3": 1, "4": 0, "5": 1, "6": 0}, "high"),
        ({"1": 0, "2": 0, "6": 1, "6b": 1}, "high"),
    ],
)
def test_cssrs_triage_grades(answers, risk):
    s = scales.score("C-SSRS", answers)
    assert s.risk == risk
    assert s.suicide_flag == (risk != "negative")


@pytest.mark.parametrize(
    ("answers", "item"),
    [
        ({"1": 0, "2": 0, "5": 1, "6": 0}, "5"),  # a plan after "no thoughts of killing yourself"
        ({"1": 0, "2": 0, "3": 1, "6": 0}, "3"),
        ({"1": 0, "2": 0, "6": 0, "6b": 1}, "6b"),  # "in the past 3 months" after "never"
    ],
)
def test_cssrs_a_yes_to_a_skipped_question_is_refused(answers, item):
    with pytest.raises(ScaleInputError) as exc:
        scales.score("C-SSRS", answers)
    assert exc.value.field == f"C-SSRS item {item}" and "asked only when" in exc.value.allowed


def test_cssrs_a_no_to_a_skipped_question_reads_as_not_asked():
    s = scales.score("C-SSRS", {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0, "6": 0, "6b": 0})
    assert s.risk == "negative" and set(s.items) == {"1", "2", "6"}


def test_numbers_from_numpy_and_pandas_are_ratings():
    """A pandas row gives numpy integers, or floats with NaN where a cell is empty."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    plain = {str(i): (i % 4) for i in range(1, 10)}
    want = scales.score("PHQ-9", plain)
    assert scales.score("PHQ-9", {k: np.int64(v) for k, v in plain.items()}) == want
    assert scales.score("PHQ-9", {k: float(v) for k, v in plain.items()}) == want
    row = pd.DataFrame([plain | {"9": None}]).iloc[0]  # item 9 empty -> NaN, column float
    s = scales.score("PHQ-9", row.to_dict(), allow_incomplete=True)
    assert s.missing == ("9",) and s.total is None
    with pytest.raises(ScaleInputError, match="true/false"):
        scales.score("PHQ-9", plain | {"1": np.bool_(True)})


def _camcops_phq9(v):
    """CamCOPS phq9.py's n_core/n_other/is_mds/is_ods, re-stated as the reference."""
    core = (v[0] >= 2) + (v[1] >= 2)
    other = sum(x >= 2 for x in v[2:8]) + (v[8] >= 1)
    if core >= 1 and core + other >= 5:
        return "major depressive syndrome"
    if core >= 1 and 2 <= core + other <= 4:
        return "other depressive syndrome"
    return "none"


@pytest.mark.parametrize(
    ("values", "syndrome"),
    [
        ((2, 2, 2, 2, 1, 1, 2, 0, 0), "major depressive syndrome"),  # US Core example, total 12
        ((0, 2, 0, 0, 0, 0, 0, 0, 1), "other depressive syndrome"),  # item 9 counts at 1
        ((0, 0, 3, 3, 3, 3, 3, 3, 3), "none"),  # no core symptom: never a syndrome
        ((3, 0, 0, 0, 0, 0, 0, 0, 0), "none"),  # one symptom only
        ((1, 1, 1, 1, 1, 1, 1, 1, 1), "none"),  # total 9, nothing "more than half the days"
        ((2, 0, 2, 2, 2, 0, 0, 0, 1), "major depressive syndrome"),
    ],
)
def test_phq9_diagnostic_algorithm(values, syndrome):
    s = scales.score("PHQ-9", {str(i): v for i, v in enumerate(values, 1)})
    assert s.syndrome == syndrome == _camcops_phq9(values)


@given(st.lists(st.integers(0, 3), min_size=9, max_size=9))
def test_phq9_algorithm_agrees_with_camcops_everywhere(values):
    s = scales.score("PHQ-9", {str(i): v for i, v in enumerate(values, 1)})
    assert s.syndrome == _camcops_phq9(values)


def test_no_syndrome_on_an_incomplete_record_or_another_instrument():
    s = scales.score("PHQ-9", {"1": 3, "2": 3}, allow_incomplete=True)
    assert s.syndrome is None
    assert scales.score("HAMD-17", hamd17()).syndrome is None


def _camcops_hamd(q: list[int], which16: str) -> tuple[int, str]:
    """CamCOPS hamd.py total_score() and severity(), re-stated as the reference: items 1-17,
    item 16 from the variant chosen (whichq16) and skipped when it is 3; bands >= 23 very
    severe, >= 19 severe, >= 14 moderate, >= 8 mild, else none."""
    total = sum(v for i, v in enumerate(q, 1) if not (i == 16 and v == 3))
    for at_least, label in ((23, "very severe"), (19, "severe"), (14, "moderate"), (8, "mild")):
        if total >= at_least:
            return total, label
    return total, "none"


_HAMD17_MAX = (4, 4, 4, 2, 2, 2, 4, 4, 4, 4, 4, 2, 2, 2, 4, 3, 2)  # item 16: 0-2, 3 = not assessed


@given(
    st.tuples(*(st.integers(0, m) for m in _HAMD17_MAX)),
    st.sampled_from(["A", "B"]),
)
def test_hamd17_total_and_band_agree_with_camcops_everywhere(q, which16):
    responses = {str(i): v for i, v in enumerate(q, 1) if i != 16} | {f"16{which16}": q[15]}
    s = scales.score("HAMD-17", responses)
    assert (s.total, s.severity) == _camcops_hamd(list(q), which16)
    assert s.not_assessed == ({"16": 3} if q[15] == 3 else {})


def _qids(**given: int) -> dict[str, int]:
    return {str(i): 1 for i in range(1, 17) if str(i) not in {"6", "7", "8", "9"}} | given


@pytest.mark.parametrize(
    ("pairs", "appetite_weight"),
    [
        ({"6": 2, "8": 1}, 2),  # decreased appetite, decreased weight: one of each pair
        ({"7": 3, "9": 0}, 3),  # increased appetite and weight
        ({"6": 0, "9": 2}, 2),
        ({"6": 1, "7": 2, "8": 0, "9": 3}, 3),  # all four answered: the highest still counts
    ],
)
def test_qids_sr16_one_of_each_appetite_and_weight_pair(pairs, appetite_weight):
    """The form asks for one of items 6/7 and one of 8/9; the domain is the highest answered
    (total = max(q1-q4) + q5 + max(q6-q9) + ...)."""
    s = scales.score("QIDS-SR16", _qids(**pairs))
    assert s.complete and s.missing == ()
    assert s.domains["appetite_weight"] == appetite_weight
    assert s.total == 8 + appetite_weight  # eight other domains at 1
    assert set(s.items) >= set(pairs)


def test_qids_sr16_a_pair_left_blank_is_missing():
    s = scales.score("QIDS-SR16", _qids(**{"6": 2}), allow_incomplete=True)
    assert s.missing == ("8", "9") and s.total is None
    with pytest.raises(ScaleInputError, match="missing 8, 9"):
        scales.score("QIDS-SR16", _qids(**{"6": 2}))


def _hamd21(**over: int) -> dict[str, int]:
    r = {str(i): 0 for i in range(1, 22) if i != 16} | {"16A": 0}
    return r | {k: v for k, v in over.items()}


def test_hamd21_versions_item20():
    """ECDEU (Guy 1976, CamCOPS hamd.py): item 20 is 0-3, maximum 63; Hamilton's 1960 table
    (textbook reproduction, Table 5.3-5): 0-4, maximum 64 - the ids-qids HRSD-21 top band."""
    ecdeu, hamilton = scales.get("HAMD-21"), scales.get("HAMD-21-HAMILTON")
    assert ecdeu.total_range == (0, 63) and hamilton.total_range == (0, 64)
    with pytest.raises(ScaleInputError, match=r"item 20.*0-3"):
        scales.score("HAMD-21", _hamd21(**{"20": 4}))
    s = scales.score("HAMD-21-HAMILTON", _hamd21(**{"20": 4}))
    assert s.total == 4
    top = {i.id + ("A" if i.variants else ""): i.max for i in hamilton.items}
    assert scales.score("HAMD-21-HAMILTON", top).severity == "very severe"
    assert scales.score("HAMD-21-HAMILTON", top).total == 64
    # the rest of the definition is the ECDEU file's
    assert [i.id for i in hamilton.items] == [i.id for i in ecdeu.items]
    assert hamilton.outcomes == ecdeu.outcomes and hamilton.extra_items == ecdeu.extra_items
    assert "HAMD-21-HAMILTON" in ecdeu.notes[0] and "HAMD-21" in hamilton.notes[0]


def test_madrs_muller_split_shown_beside_snaith():
    from raad.scales.scoring import band

    m = scales.get("MADRS")
    muller = "Snaith bands with Muller 2003's moderate/severe cut-off (31)"
    assert band(m, 31) == "moderate" and band(m, 31, muller) == "severe"
    assert band(m, 30, muller) == "moderate" and band(m, 35) == "severe"


def test_a_contradiction_is_refused_but_its_suicide_answer_is_not_lost():
    """C-SSRS: a yes to 5 after a no to 2 contradicts the skip logic and is refused, with the
    positive suicide item named in the refusal (never silently dropped)."""
    with pytest.raises(ScaleInputError, match="SUICIDE ITEM ALERT: item\\(s\\) 1, 5") as err:
        scales.score("C-SSRS", {"1": 1, "2": 0, "5": 1, "6": 0})
    assert err.value.suicide_items == ("1", "5")


@pytest.mark.parametrize(
    ("answers", "risk"),
    [
        ({"1": 1, "2": 1, "5": 1, "6": 0}, "high"),  # 3, 4 missing: high already
        ({"1": 1, "2": 1, "3": 1, "6": 0}, "at least moderate"),  # 4, 5 may raise it
        ({"1": 1, "2": 0}, "at least low"),  # 6 unanswered
        ({"1": 0, "2": 0}, None),  # nothing positive yet, 6 unanswered
    ],
)
def test_an_incomplete_cssrs_risk_only_rises(answers, risk):
    s = scales.score("C-SSRS", answers, allow_incomplete=True)
    assert not s.complete and s.risk == risk


def test_both_variant_columns_with_one_empty():
    """A pandas row or REDCap export has both 16A and 16B columns; the empty one is unanswered."""
    base = hamd17()
    del base["16A"]
    s = scales.score("HAMD-17", base | {"16A": 2, "16B": None})
    assert s.variants == {"16": "A"} and s.items["16"] == 2
    assert scales.score("HAMD-17", base | {"16A": float("nan"), "16B": 1}).variants == {"16": "B"}
