"""The source registry (``sources.yaml``) and citations that point into it."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class KnowledgeError(ValueError):
    """A knowledge data file is malformed or cites a source that does not exist."""


class Source(BaseModel):
    """A citable source: a DOI or URL, what it is, and what kind of evidence it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    citation: str
    doi: str | None = None
    url: str | None = None
    kind: Literal["primary", "secondary", "code", "standard"]

    @model_validator(mode="after")
    def _locatable(self) -> Source:
        if self.kind != "primary" and not (self.doi or self.url):
            raise ValueError(f"source {self.id!r}: a {self.kind} source needs a doi or url")
        return self

    @property
    def link(self) -> str | None:
        return f"https://doi.org/{self.doi}" if self.doi else self.url


class Citation(BaseModel):
    """A pointer to a source with where in it the fact was read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    where: str | None = Field(default=None, description="table, page, section or file")


class SourceRegistry:
    """All sources by id; ``resolve`` fails loudly on an unknown id."""

    def __init__(self, sources: dict[str, Source]) -> None:
        self._sources = sources

    def __getitem__(self, source_id: str) -> Source:
        return self.resolve(source_id)

    def __contains__(self, source_id: object) -> bool:
        return source_id in self._sources

    def __iter__(self):
        return iter(self._sources.values())

    def __len__(self) -> int:
        return len(self._sources)

    def resolve(self, source_id: str) -> Source:
        try:
            return self._sources[source_id]
        except KeyError:
            raise KnowledgeError(f"unknown source id {source_id!r} (not in sources.yaml)") from None

    def check(self, citations: list[Citation], context: str) -> None:
        for c in citations:
            if c.source not in self._sources:
                raise KnowledgeError(f"{context}: cites unknown source {c.source!r}")


@cache
def load_sources() -> SourceRegistry:
    """Load and validate ``sources.yaml`` once."""
    text = resources.files(__package__).joinpath("sources.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)["sources"]
    try:
        items = {key: Source(id=key, **value) for key, value in raw.items()}
    except Exception as exc:  # pydantic's ValidationError, with the entry named
        raise KnowledgeError(f"sources.yaml: {exc}") from exc
    return SourceRegistry(items)


_M = TypeVar("_M", bound=BaseModel)


def load_model(filename: str, model: type[_M]) -> _M:
    """``filename`` (a YAML file of this package) validated as ``model``, with every citation
    its ``citations()`` method lists checked against ``sources.yaml``.

    Raises:
        KnowledgeError: the file does not match the model (the entry is named) or cites an
            unknown source.
    """
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    try:
        data = model.model_validate(yaml.safe_load(text))
    except Exception as exc:  # pydantic's ValidationError, with the entry named
        raise KnowledgeError(f"{filename}: {exc}") from exc
    load_sources().check(data.citations(), filename)
    return data
