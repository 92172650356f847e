"""Loading the instrument files (``instruments/*.yaml``) once, validated and source-checked."""

from __future__ import annotations

from functools import cache
from importlib import resources

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
        raw = yaml.safe_load(entry.read_text(encoding="utf-8"))
        raw = {k: v for k, v in raw.items() if not k.startswith("x-")}  # YAML anchor holders
        try:
            instr = Instrument.model_validate(raw)
        except ValidationError as exc:
            raise KnowledgeError(f"scales/instruments/{entry.name}: {exc}") from exc
        sources.check(instr.citations(), f"scales/instruments/{entry.name}")
        out[instr.name] = instr
    return out


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
