"""Limit/offset pages with the total count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from .errors import InvalidInput

MAX_LIMIT = 200


def page(
    db: Session, query: Select, limit: int, offset: int, render: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", limit, f"1-{MAX_LIMIT}")
    if not 0 <= offset <= 2**31 - 1:
        raise InvalidInput("offset", offset, f"0-{2**31 - 1}")
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.scalars(query.limit(limit).offset(offset)).all()
    return {"items": [render(r) for r in rows], "total": total, "limit": limit, "offset": offset}
