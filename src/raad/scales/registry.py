"""Loading the instrument files (``instruments/*.yaml``) once, validated and source-checked."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from raad.knowledge import load_sources
from raad.knowledge.sources import KnowledgeError

from .model import Instrument
from .scoring import ScaleInputError


@cache
def instruments() -> dict[str, Instrument]:
    """All instruments by name; a malformed file or an unknown source id fails loudly."""
    sources = load_sources()
    out: dict[str, Instrument] = {}
    folder = resources.files(__package__).joinpath("instruments")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        try:
            instr = Instrument.model_validate(_raw(folder, entry.name))
        except (ValidationError, ValueError) as exc:
            raise KnowledgeError(f"scales/instruments/{entry.name}: {exc}") from exc
        sources.check(instr.citations(), f"scales/instruments/{entry.name}")
        out[instr.name] = instr
    return out


def _raw(folder: Any, filename: str) -> dict[str, Any]:
    """One instrument file as a dict; a file with ``base: other.yaml`` is that file with the
    keys it gives replaced and ``item_overrides`` (item id -> fields) applied to single items
    (HAMD-21-HAMILTON: the ECDEU HAMD-21 with item 20 rated 0-4)."""
    raw = yaml.safe_load(folder.joinpath(filename).read_text(encoding="utf-8"))
    raw = {k: v for k, v in raw.items() if not k.startswith("x-")}  # YAML anchor holders
    base = raw.pop("base", None)
    overrides = raw.pop("item_overrides", None)
    if base is None:
        if overrides is not None:
            raise ValueError("item_overrides needs a base file")
        return raw
    merged = copy.deepcopy(_raw(folder, base)) | raw
    by_id = {str(i["id"]): i for i in merged["items"]}
    for item_id, fields in (overrides or {}).items():
        if str(item_id) not in by_id:
            raise ValueError(f"item_overrides: {base} has no item {item_id!r}")
        by_id[str(item_id)].update(fields)
    return merged


@cache
def _lookup() -> dict[str, str]:
    table = {}
    for name, instr in instruments().items():
        for alias in (name, *instr.aliases):
            table[_key(alias)] = name
    return table


def _key(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch.isalnum())


def get(name: str) -> Instrument:
    """The instrument called ``name`` (aliases such as 'HDRS-17' or 'madrs' accepted)."""
    if not isinstance(name, str):
        raise ScaleInputError("instrument", name, f"one of {', '.join(instruments())}")
    try:
        return instruments()[_lookup()[_key(name)]]
    except KeyError:
        raise ScaleInputError("instrument", name, f"one of {', '.join(instruments())}") from None


def names() -> list[str]:
    return list(instruments())
