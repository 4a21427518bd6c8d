"""Keyset pagination, pure: an opaque cursor holding the sort key of the last row returned."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from extsched.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after: tuple[datetime, str] | None = None


def page_request(limit: int | None, cursor: str | None) -> PageRequest:
    errors: dict[str, str] = {}
    lim = DEFAULT_LIMIT if limit is None else limit
    if lim < 1 or lim > MAX_LIMIT:
        errors["limit"] = f"limit must be between 1 and {MAX_LIMIT}"
    after = None
    if cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
            after = (datetime.fromisoformat(raw[0]), str(raw[1]))
        except (ValueError, TypeError, IndexError, KeyError):
            errors["cursor"] = "cursor is not valid"
    if errors:
        raise ValidationFailed(field_errors=errors)
    return PageRequest(limit=lim, after=after)


def encode_cursor(sort_time: datetime, row_id: str) -> str:
    raw = json.dumps([sort_time.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


T = TypeVar("T")


def cut_page(
    rows: list[T], page: PageRequest, sort_key: Callable[[T], tuple[datetime, str]]
) -> tuple[list[T], str | None]:
    """Trim the ``limit + 1`` rows a repository returned; a cursor only when more rows exist."""
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor(*sort_key(rows[-1]))
