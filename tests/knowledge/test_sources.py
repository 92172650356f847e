"""The source registry loads, every entry is locatable, and unknown ids fail loudly."""

from __future__ import annotations

import pytest

from raad.knowledge import Citation, load_sources
from raad.knowledge.sources import KnowledgeError, Source


def test_sources_load_and_are_locatable():
    reg = load_sources()
    assert len(reg) >= 30
    for s in reg:
        assert s.citation
        assert s.kind == "primary" or s.link, s.id


def test_unknown_source_fails_loudly():
    reg = load_sources()
    with pytest.raises(KnowledgeError, match="no-such-source"):
        reg.resolve("no-such-source")
    with pytest.raises(KnowledgeError, match="context-x"):
        reg.check([Citation(source="no-such-source")], "context-x")


def test_non_primary_source_needs_a_link():
    with pytest.raises(ValueError, match="needs a doi or url"):
        Source(id="x", citation="a blog", kind="secondary")
