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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, StrictInt, ValidationError, model_validator

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
    codes: dict[str, dict[str, StrictInt]]
    cite: tuple[Citation, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _keys_as_text(cls, data: Any) -> Any:
        """YAML reads ``1: field`` and ``0: 0`` with numbers as keys; they mean the same as
        ``"1"`` and ``"0"``, so keys are taken as text (values are not: a code means a rating)."""
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        if isinstance(out.get("fields"), Mapping):
            out["fields"] = {str(k): v for k, v in out["fields"].items()}
        if isinstance(out.get("codes"), Mapping):
            out["codes"] = {
                str(k): {str(c): r for c, r in v.items()} if isinstance(v, Mapping) else v
                for k, v in out["codes"].items()
            }
        return out

    @model_validator(mode="after")
    def _known(self) -> FieldMap:
        try:
            instr = get(self.instrument)
        except ScaleInputError as exc:
            raise ValueError(
                f"instrument: {self.instrument!r} is not one of {exc.allowed}"
            ) from None
        unknown = sorted(set(self.fields) - set(instr.response_keys))
        if unknown:
            raise ValueError(
                f"fields: {unknown} are not {instr.name} keys ({', '.join(instr.response_keys)})"
            )
        names = list(self.fields.values())
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"fields: REDCap field(s) {twice} named for more than one item")
        # a map that cannot read a suicide item would hide it on every record: refused
        suicide = [s.item for s in instr.suicide_items]
        absent = [i for i in suicide if not any(self._item_of(k) == i for k in self.fields)]
        if absent:
            raise ValueError(
                f"fields: the {instr.name} suicide item(s) {absent} have no REDCap field; a map "
                "must read every suicide item"
            )
        for key, name in self.fields.items():
            codes = self.codes.get(name) or self.codes.get("default")
            if codes is None:
                raise ValueError(f"codes: no codes for field {name!r} and no default")
            item = instr.item_for_key(key)
            assert item is not None  # the key was checked above
            allowed = set(range(item.min, item.max + 1)) | set(getattr(item, "not_scored", {}))
            bad = {c: r for c, r in codes.items() if r not in allowed}
            if bad:
                raise ValueError(
                    f"codes: field {name!r} (item {key}) maps {bad} outside {item.min}-{item.max}"
                )
        return self

    def _item_of(self, key: str) -> str | None:
        item = get(self.instrument).item_for_key(key)
        return item.id if item is not None else None

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
            "suicide_flag": bool(self.score and self.score.suicide_flag),
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
        given = first.get("input") if loc else path.name
        raise ScaleInputError(f"map {path}" + (f" {loc}" if loc else ""), given, msg) from None


def read_records(
    rows: Iterable[Mapping[str, str | None]], fmap: FieldMap, columns: Sequence[str] | None = None
) -> tuple[list[RecordRead], int]:
    """Score each row of a raw REDCap export; returns (reads, rows skipped as empty).

    ``columns``: the export's header (checked even when there are no rows). A field whose code
    the map does not list is reported for that record and read as unanswered, so the rest of
    the record, a positive suicide item above all, is still scored and flagged; the record then
    counts as not scored (its ``error`` is set).

    Raises:
        ScaleInputError: a header without the map's fields, or with a name twice.
    """
    instr = get(fmap.instrument)
    if columns is not None:
        _check_header(columns, fmap)
    reads: list[RecordRead] = []
    skipped = 0
    for n, row in enumerate(rows, 1):
        if columns is None:
            columns = list(row)
            _check_header(columns, fmap)
        record = str(row.get("record_id") or row.get(columns[0]) or f"row {n}")
        event = row.get("redcap_event_name") or None
        if None in row or any(v is None for v in row.values()):
            cells = len(columns) + len(row.get(None) or [])  # type: ignore[call-overload]
            reads.append(
                RecordRead(
                    record,
                    event,
                    None,
                    f"row {n} has {cells - sum(v is None for v in row.values())} cells, the "
                    f"header {len(columns)}: a malformed row is not read",
                )
            )
            continue
        raw = {key: (row.get(f) or "").strip() for key, f in fmap.fields.items()}
        if not any(raw.values()):
            skipped += 1
            continue
        responses: dict[str, int | None] = {}
        errors: list[str] = []
        for key, value in raw.items():
            try:
                responses[key] = _code(fmap, fmap.fields[key], value)
            except ScaleInputError as exc:
                errors.append(str(exc))
                responses[key] = None
        try:
            sc = instr.score(responses, allow_incomplete=True)
        except ScaleInputError as exc:
            reads.append(RecordRead(record, event, None, "; ".join([*errors, str(exc)])))
            continue
        reads.append(RecordRead(record, event, sc, "; ".join(errors) or None))
    return reads, skipped


def _check_header(columns: Sequence[str], fmap: FieldMap) -> None:
    twice = sorted({c for c in columns if list(columns).count(c) > 1})
    if twice:
        raise ScaleInputError(
            "export header",
            ", ".join(twice),
            "each column once (a column named twice loses a value)",
        )
    absent = [f for f in fmap.fields.values() if f not in columns]
    if absent:
        raise ScaleInputError(
            "export columns", ", ".join(absent), f"the fields the map names for {fmap.instrument}"
        )


def read_csv(path: str | Path, fmap: FieldMap) -> tuple[list[RecordRead], int]:
    """``read_records`` over a REDCap CSV export (raw codes, UTF-8 with or without BOM).

    Raises:
        ScaleInputError: an empty file, or a header without the map's fields or with a name
            twice.
    """
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise ScaleInputError("export", str(path), "a CSV export with a header row")
        return read_records(reader, fmap, reader.fieldnames)


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
