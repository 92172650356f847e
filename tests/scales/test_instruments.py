"""Instrument definitions: items, ranges, totals, bands, sources."""

from __future__ import annotations

import pytest

from raad import scales
from raad.knowledge import load_sources

EXPECTED = {
    # name: (number of items counted, total range)
    "HAMD-17": (17, (0, 52)),
    "HAMD-21": (21, (0, 63)),
    "MADRS": (10, (0, 60)),
    "QIDS-SR16": (16, (0, 27)),
    "PHQ-9": (9, (0, 27)),
    "CADSS": (23, (0, 92)),
}


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items())
def test_items_and_total_range(name, expected):
    instr = scales.get(name)
    n, rng = expected
    assert len(instr.items) == n
    assert instr.total_range == rng


def test_hamd17_item_ranges_differ_by_item():
    h = scales.get("HAMD-17")
    two_point = {"4", "5", "6", "12", "13", "14", "16", "17"}
    for item in h.items:
        assert item.min == 0
        assert item.max == (2 if item.id in two_point else 4), item.id
    assert h.item("16").variants.keys() == {"A", "B"}
    assert h.item("16").not_scored == {3: "not assessed"}


def test_hamd21_adds_items_18_to_21_and_keeps_18a_outside_the_total():
    h = scales.get("HAMD-21")
    assert h.item_ids[-4:] == ("18", "19", "20", "21")
    assert [h.item(i).max for i in ("18", "19", "20", "21")] == [2, 4, 3, 2]
    assert [e.id for e in h.extra_items] == ["18A"]
    assert "63" in h.total.note and "64" in h.total.note


def test_phq9_item10_is_kept_outside_items():
    p = scales.get("PHQ-9")
    assert p.item_ids == tuple(str(i) for i in range(1, 10))
    assert [e.id for e in p.extra_items] == ["10"]
    assert p.loinc.panel == "44249-1" and p.loinc.total == "44261-6"
    assert all(i.loinc for i in p.items)


def test_aliases_and_unknown_names():
    assert scales.get("hdrs-17").name == "HAMD-17"
    assert scales.get("madrs").name == "MADRS"
    with pytest.raises(scales.ScaleInputError) as exc:
        scales.get("BDI-II")
    assert exc.value.field == "instrument" and "MADRS" in str(exc.value)


@pytest.mark.parametrize("name", scales.names())
def test_every_fact_cites_a_known_source(name):
    instr = scales.get(name)
    reg = load_sources()
    cites = instr.citations()
    assert cites
    assert all(c.source in reg for c in cites)
    for outcome in (instr.outcomes.response, instr.outcomes.remission):
        if outcome is not None:
            assert outcome.default.cite


@pytest.mark.parametrize("name", [n for n in scales.names() if scales.get(n).severity])
def test_bands_partition_the_total_range(name):
    instr = scales.get(name)
    lo, hi = instr.total_range
    for bandset in (instr.severity.default, *instr.severity.alternatives):
        covered = [t for b in bandset.bands for t in range(b.min, b.max + 1)]
        assert covered == list(range(lo, hi + 1))


def test_loinc_absence_is_stated():
    for name in ("HAMD-17", "HAMD-21", "MADRS", "QIDS-SR16", "CADSS"):
        instr = scales.get(name)
        assert instr.loinc.total is None
        assert "No LOINC" in instr.loinc.note


def test_cadss_items_are_0_to_4_and_it_has_no_bands():
    c = scales.get("cadss-23")
    assert c.name == "CADSS" and c.rater == "clinician"
    assert {(i.min, i.max) for i in c.items} == {(0, 4)}
    assert c.severity is None and not c.suicide_items
    sc = c.score({str(i): (4 if i == 23 else 0) for i in range(1, 24)})
    assert sc.total == 4 and sc.severity is None
    with pytest.raises(scales.ScaleInputError, match="0-4"):
        c.score({str(i): (5 if i == 1 else 0) for i in range(1, 24)})
    with pytest.raises(scales.ScaleInputError, match="missing 23"):
        c.score({str(i): 0 for i in range(1, 23)})


def test_all_seven_issue_names_resolve():
    for name in ("HAMD-17", "HAMD-21", "MADRS", "QIDS-SR16", "PHQ-9", "CADSS", "C-SSRS"):
        assert scales.get(name)
