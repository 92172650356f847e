"""Cited clinical knowledge: data files under this package and their typed loaders.

Nothing here imports the rest of raad. Every fact in a data file cites a source id from
``sources.yaml``; a reference that does not resolve fails loudly at load time.
"""

from .sources import Citation, Source, SourceRegistry, load_sources

__all__ = ["Citation", "Source", "SourceRegistry", "load_sources"]
