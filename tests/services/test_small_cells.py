"""Minimum cell size in researchers' aggregates (knowledge/disclosure.yaml: 11, PCORnet's
threshold as reported by countmaskr): small groups are left out, small counts shown as "<11"."""

from __future__ import annotations

from raad.services.deid import MIN_CELL, small_cells


def _row(courses: int, response: int, remission: int) -> dict:
    return {
        "agent": "n2o",
        "courses": courses,
        "response": response,
        "remission": remission,
        "response_rate": response / courses,
        "remission_rate": remission / courses,
    }


def test_small_groups_and_counts():
    assert MIN_CELL == 11
    rows = [_row(10, 5, 2), _row(11, 0, 11), _row(40, 3, 25)]
    out = small_cells(rows, "courses", {"response": "response_rate", "remission": "remission_rate"})
    assert len(out) == 2  # the group of 10 is not shown
    assert out[0]["response"] == 0 and out[0]["response_rate"] == 0  # zero is not a small cell
    assert out[1]["response"] == "<11" and out[1]["response_rate"] is None
    assert out[1]["remission"] == 25 and out[1]["remission_rate"] == 25 / 40
    assert rows[2]["response"] == 3  # the identified rows are not changed
