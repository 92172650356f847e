"""REDCap exports read through field maps.

The rows are re-created on the PHQ-9 of the eipm/bridge2ai-redcap data dictionary (fields
no_interest ... thoughts_death coded 0-3, hard_to_work coded 0-3; source id
bridge2ai-redcap-phq9); the expected totals and bands follow the PHQ-9 bands (Kroenke 2001, as in
CamCOPS phq9.py: 5 mild, 10 moderate, 15 moderately severe, 20 severe).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from raad.cli import app
from raad.interop.redcap import load_map, read_csv
from raad.scales import ScaleInputError

FIELDS = [
    "no_interest",
    "feeling_depressed",
    "trouble_sleeping",
    "no_energy",
    "no_appetite",
    "feeling_bad_self",
    "trouble_concentrate",
    "move_speak_slow",
    "thoughts_death",
    "hard_to_work",
]
HEADER = "record_id,redcap_event_name," + ",".join(FIELDS) + ",age"
ROWS = [
    # record, event, nine items, difficulty -> total, band, suicide flag
    ("101", "baseline_arm_1", [2, 2, 2, 2, 1, 1, 2, 0, 0], 1, 12, "moderate", False),
    ("102", "baseline_arm_1", [0] * 9, None, 0, "minimal", False),
    ("103", "baseline_arm_1", [3] * 8 + [1], 3, 25, "severe", True),
    ("104", "baseline_arm_1", [1, 1, 1, 1, 1, 0, 0, 0, 0], 0, 5, "mild", False),
    ("105", "week_1_arm_1", [3, 3, 3, 3, 3, 0, 0, 0, 0], 2, 15, "moderately severe", False),
]


def export(tmp_path, rows=ROWS, extra=()):
    lines = [HEADER]
    for rec, event, items, diff, *_ in rows:
        vals = [str(v) for v in items] + ["" if diff is None else str(diff)]
        lines.append(f"{rec},{event}," + ",".join(vals) + ",41")
    lines += list(extra)
    path = tmp_path / "export.csv"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")  # REDCap writes a BOM
    return path


def test_bridge2ai_phq9_rows_score_as_the_manual_says(tmp_path):
    extra = ["101,week_4_arm_1" + "," * 10 + ",41"]  # another event with no PHQ-9: skipped
    reads, skipped = read_csv(export(tmp_path, extra=extra), load_map("bridge2ai-phq9"))
    assert skipped == 1 and len(reads) == len(ROWS)
    for r, (rec, event, _items, diff, total, band, flag) in zip(reads, ROWS, strict=True):
        assert (r.record_id, r.event, r.error) == (rec, event, None)
        assert (r.score.total, r.score.severity, r.score.suicide_flag) == (total, band, flag)
        assert r.score.extra == ({} if diff is None else {"10": diff})


def test_unknown_code_is_named_and_other_records_still_read(tmp_path):
    rows = [*ROWS[:1], ("106", "baseline_arm_1", [1, 1, 9, 1, 1, 1, 1, 1, 1], 1, 0, "", False)]
    reads, _ = read_csv(export(tmp_path, rows), load_map("bridge2ai-phq9"))
    assert reads[0].score.total == 12
    assert "trouble_sleeping" in reads[1].error and "'9'" in reads[1].error
    # the rest of the record is still read: incomplete, so no total
    assert reads[1].score.missing == ("3",) and reads[1].score.total is None


def test_a_field_missing_from_the_export_stops_the_read(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("record_id,no_interest\n1,0\n")
    with pytest.raises(ScaleInputError, match="feeling_depressed"):
        read_csv(path, load_map("bridge2ai-phq9"))


def test_site_map_with_difficulty_coded_1_to_4(tmp_path):
    site = tmp_path / "map.yaml"
    site.write_text(
        "instrument: PHQ-9\nfields:\n"
        + "".join(f"  '{i}': phq9_{i}\n" for i in range(1, 10))
        + "  '10': phq9_difficulty\n"
        "codes:\n  default: {'0': 0, '1': 1, '2': 2, '3': 3}\n"
        "  phq9_difficulty: {'1': 0, '2': 1, '3': 2, '4': 3}\n"
    )
    csv_path = tmp_path / "site.csv"
    head = "participant," + ",".join(f"phq9_{i}" for i in range(1, 10)) + ",phq9_difficulty"
    csv_path.write_text(f"{head}\nP1,1,1,1,1,1,1,1,1,0,4\nP2,0,0,0,0,0,0,0,0,0,\n")
    reads, _ = read_csv(csv_path, load_map(site))
    assert reads[0].record_id == "P1" and reads[0].score.total == 8
    assert reads[0].score.extra == {"10": 3}  # "4, Extremely difficult" is raad's 3
    assert reads[1].score.total == 0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "instrument: PHQ-9\nfields: {'11': x}\ncodes: {default: {'0': 0}}\n",
            r"fields: \['11'\] are not PHQ-9 keys \(1, 2, 3",
        ),
        ("instrument: PHQ-9\nfields: {'9': x}\ncodes: {y: {'0': 0}}\n", "no codes for field 'x'"),
        ("instrument: PHQ-9\nfields: {'1': x}\ncodes: {default: {'0': 0}}\n", "suicide item"),
        (
            "instrument: PHQ-9\nfields: {'1': x, '9': x}\ncodes: {default: {'0': 0}}\n",
            "more than one item",
        ),
        ("instrument: PHQ-9\nfields: {'9': x}\ncodes: {default: {'0': true}}\n", "integer"),
        ("instrument: PHQ-9\nfields: {'9': x}\ncodes: {default: {'0': 7}}\n", r"\{'0': 7\}"),
        ("instrument: NOPE\nfields: {}\ncodes: {}\n", "'NOPE' is not one of"),
        ("instrument: [unclosed\n", "readable YAML"),
    ],
)
def test_bad_site_maps_name_the_key(tmp_path, text, match):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ScaleInputError, match=match):
        load_map(path)
    with pytest.raises(ScaleInputError, match="bridge2ai-phq9"):
        load_map("no-such-map")


def test_cli_read_redcap(tmp_path):
    runner = CliRunner()
    path = export(tmp_path)
    res = runner.invoke(
        app, ["scale", "read-redcap", str(path), "--map", "bridge2ai-phq9", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [r["score"]["total"] for r in out["records"]] == [r[4] for r in ROWS]
    res = runner.invoke(app, ["scale", "read-redcap", str(path), "--map", "bridge2ai-phq9"])
    assert "record 103 (baseline_arm_1): PHQ-9: total 25, severe" in res.output
    assert "SUICIDE ITEM ALERT" in res.output
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\n1,e,1,1,1,1,1,1,1,1,7,1,3\n")
    res = runner.invoke(app, ["scale", "read-redcap", str(bad), "--map", "bridge2ai-phq9"])
    assert res.exit_code == 2 and "thoughts_death" in res.output


def test_a_bad_code_never_hides_a_positive_suicide_item(tmp_path):
    """One unreadable field: the record is reported, and item 9 = 3 still raises the flag."""
    rows = [("107", "week2", ["UNK", 1, 1, 1, 1, 1, 1, 1, 3], 1, 0, "", True)]
    path = export(tmp_path, rows)
    reads, _ = read_csv(path, load_map("bridge2ai-phq9"))
    assert "no_interest" in reads[0].error and reads[0].score.suicide_flag
    res = CliRunner().invoke(app, ["scale", "read-redcap", str(path), "--map", "bridge2ai-phq9"])
    assert res.exit_code == 2 and "SUICIDE ITEM ALERT" in res.output


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "header row"),
        ("record_id,foo,bar\n", "no_interest"),  # header only, another form: refused
        (HEADER.replace("hard_to_work", "thoughts_death") + "\n", "thoughts_death"),  # twice
    ],
)
def test_empty_wrong_or_duplicated_headers_are_refused(tmp_path, text, match):
    path = tmp_path / "e.csv"
    path.write_text(text)
    with pytest.raises(ScaleInputError, match=match):
        read_csv(path, load_map("bridge2ai-phq9"))


def test_short_and_long_rows_are_reported(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(HEADER + "\n1,e,1,1,1\n2,e,0,0,0,0,0,0,0,0,0,,41,extra\n")
    reads, _ = read_csv(path, load_map("bridge2ai-phq9"))
    assert [r.score for r in reads] == [None, None]
    assert all("malformed row" in r.error for r in reads)


def test_unquoted_numeric_keys_in_a_site_map(tmp_path):
    site = tmp_path / "map.yaml"
    site.write_text(
        "instrument: PHQ-9\nfields:\n"
        + "".join(f"  {i}: f{i}\n" for i in range(1, 10))
        + "codes:\n  default: {0: 0, 1: 1, 2: 2, 3: 3}\n"
    )
    assert load_map(site).fields["9"] == "f9" and load_map(site).codes["default"]["3"] == 3
