"""REDCap records to raad scores, through a documented field map (``redcap_maps.yaml``).

A REDCap export (CSV, raw codes) holds one row per record (and per event or repeat); its
columns are the project's field names and its values REDCap's choice codes as text. A map says
which field holds which raad item and what each code means, so nothing is guessed: a field the
map names but the export lacks, or a code the map does not list, is an error naming the record,
the field and the allowed codes. Rows where none of the mapped fields is filled (another
instrument's rows in a longitudinal export) are skipped and counted.

Maps shipped with raad cite the data dictionary they were read from; a site's own dictionary
is read from a YAML file of the same shape (``load_map(path)``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from raad.knowledge import Citation, load_sources
from raad.scales import ScaleInputError, Score, get


class FieldMap(BaseModel):
    """One REDCap instrument read as one raad instrument.

    ``fields``: raad item key -> REDCap field name; ``codes``: REDCap field name (or
    ``default``) -> {raw code: raad rating}.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    instrument: str
    form: str | None = None
    fields: dict[str, str]
    codes: dict[str, dict[str, int]]
    cite: tuple[Citation, ...] = ()

    @model_validator(mode="after")
    def _known(self) -> FieldMap:
        instr = get(self.instrument)
        unknown = sorted(set(self.fields) - set(instr.response_keys))
        if unknown:
            raise ValueError(
                f"fields: {unknown} are not {instr.name} keys ({', '.join(instr.response_keys)})"
            )
        for name in self.fields.values():
            if name not in self.codes and "default" not in self.codes:
                raise ValueError(f"codes: no codes for field {name!r} and no default")
        return self

    def codes_for(self, redcap_field: str) -> dict[str, int]:
        return self.codes.get(redcap_field) or self.codes["default"]


@dataclass(frozen=True)
class RecordRead:
    """One row: its record id (and event), and the score or why it was not scored."""

    record_id: str
    event: str | None
    score: Score | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "event": self.event,
            "score": self.score.to_dict() if self.score else None,
            "error": self.error,
        }


@cache
def shipped_maps() -> dict[str, FieldMap]:
    """The maps raad ships, by name, each checked against the sources it cites."""
    text = resources.files(__package__).joinpath("redcap_maps.yaml").read_text(encoding="utf-8")
    maps = {k: FieldMap.model_validate(v) for k, v in yaml.safe_load(text)["maps"].items()}
    sources = load_sources()
    for name, m in maps.items():
        sources.check(list(m.cite), f"redcap_maps.yaml {name}")
    return maps


def load_map(name_or_path: str | Path) -> FieldMap:
    """A shipped map by name, or a site's map from a YAML file of the same shape.

    Raises:
        ScaleInputError: unknown name, unreadable file, or a map that does not fit the
            instrument (the message names the key).
    """
    shipped = shipped_maps()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    path = Path(name_or_path)
    if not path.is_file():
        raise ScaleInputError(
            "map", str(name_or_path), f"one of {', '.join(shipped)} or a YAML file"
        )
    try:
        return FieldMap.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ScaleInputError("map", str(path), f"a readable YAML file ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise ScaleInputError(f"map {path}" + (f" {loc}" if loc else ""), "", msg) from None


def read_records(rows: Iterable[Mapping[str, str]], fmap: FieldMap) -> tuple[list[RecordRead], int]:
    """Score each row of a raw REDCap export; returns (reads, rows skipped as empty).

    A row with some mapped fields filled is scored with the instrument's own missing-item
    policy (an incomplete PHQ-9 is reported, not totalled).
    """
    instr = get(fmap.instrument)
    reads: list[RecordRead] = []
    skipped = 0
    header_checked = False
    for n, row in enumerate(rows, 1):
        if not header_checked:
            absent = [f for f in fmap.fields.values() if f not in row]
            if absent:
                raise ScaleInputError(
                    "export columns",
                    ", ".join(absent),
                    f"the fields the map names for {instr.name}",
                )
            header_checked = True
        record = str(row.get("record_id") or next(iter(row.values()), "") or f"row {n}")
        event = row.get("redcap_event_name") or None
        raw = {key: (row.get(f) or "").strip() for key, f in fmap.fields.items()}
        if not any(raw.values()):
            skipped += 1
            continue
        try:
            responses = {key: _code(fmap, fmap.fields[key], v) for key, v in raw.items()}
            reads.append(RecordRead(record, event, instr.score(responses, allow_incomplete=True)))
        except ScaleInputError as exc:
            reads.append(RecordRead(record, event, None, str(exc)))
    return reads, skipped


def read_csv(path: str | Path, fmap: FieldMap) -> tuple[list[RecordRead], int]:
    """``read_records`` over a REDCap CSV export (raw codes, UTF-8 with or without BOM)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return read_records(csv.DictReader(fh), fmap)


def _code(fmap: FieldMap, redcap_field: str, value: str) -> int | None:
    if value == "":
        return None
    codes = fmap.codes_for(redcap_field)
    if value not in codes:
        raise ScaleInputError(
            f"REDCap field {redcap_field}",
            value,
            f"one of the codes {', '.join(codes)} (raw export)",
        )
    return codes[value]
