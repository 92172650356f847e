"""Instrument files that build on another (``base:`` with ``item_overrides``)."""

from __future__ import annotations

import pytest

from raad.scales.registry import _raw


def test_base_file_keys_replace_and_items_override(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "name: A\ntitle: t\nitems:\n  - {id: '1', label: x, min: 0, max: 3}\n"
        "  - {id: '2', label: y, min: 0, max: 2}\n"
    )
    (tmp_path / "b.yaml").write_text("base: a.yaml\nname: B\nitem_overrides:\n  '2': {max: 4}\n")
    b = _raw(tmp_path, "b.yaml")
    assert b["name"] == "B" and b["title"] == "t"
    assert b["items"][1] == {"id": "2", "label": "y", "min": 0, "max": 4}
    assert _raw(tmp_path, "a.yaml")["items"][1]["max"] == 2  # the base is not changed


def test_override_of_an_unknown_item_or_without_a_base_fails(tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\nitems:\n  - {id: '1', label: x, min: 0, max: 3}\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nitem_overrides:\n  '9': {max: 4}\n")
    with pytest.raises(ValueError, match="no item '9'"):
        _raw(tmp_path, "b.yaml")
    (tmp_path / "c.yaml").write_text("name: C\nitem_overrides:\n  '1': {max: 4}\n")
    with pytest.raises(ValueError, match="needs a base"):
        _raw(tmp_path, "c.yaml")
