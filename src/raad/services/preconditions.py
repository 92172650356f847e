"""``If-Match`` as RFC 9110 section 13.1.1 defines it: ``*`` matches any current version, a list
matches when one of its entity tags does, and the comparison is strong - a weak tag (``W/"3"``)
never matches, so a client cannot change a record on a weak validator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IfMatch:
    """A parsed ``If-Match``: ``versions`` None for ``*``; ``weak`` the weak tags given (shown in
    the 412 so the client sees why they did not match)."""

    versions: frozenset[int] | None
    weak: tuple[str, ...] = ()

    def matches(self, current: int) -> bool:
        return self.versions is None or current in self.versions

    def __str__(self) -> str:
        if self.versions is None:
            return "*"
        shown = [f'"{v}"' for v in sorted(self.versions)] + list(self.weak)
        return ", ".join(shown) or "(none)"


def matches(current: int, if_match: int | IfMatch) -> bool:
    """Whether the record's ``current`` version satisfies the precondition (an int from a web
    form's hidden version field, or a parsed header)."""
    if isinstance(if_match, IfMatch):
        return if_match.matches(current)
    return current == if_match
