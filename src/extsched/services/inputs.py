"""Request bodies as services receive them: read by the edge, judged by the service.

A service looks up what the path names (the install, the schedule) before it reads the body, so a
missing resource answers 404 before a faulty body answers 422 (SPEC §8).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from extsched.errors import ValidationFailed


class JsonInput(Protocol):
    def value(self) -> Any:
        """The body's JSON value; ValidationFailed when it was not acceptable JSON."""
        ...


@dataclass(frozen=True)
class Given:
    """A body that is already a JSON value (the CLI, demo data, tests)."""

    raw: Any

    def value(self) -> Any:
        return self.raw


def unknown_keys(body: Any, known: Collection[str]) -> dict[str, str]:
    """ "unknown field" for each key of ``body`` not in ``known``; ValidationFailed when the body
    is not an object at all."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            "the request body must be a JSON object", field_errors={"body": "expected an object"}
        )
    return {k: "unknown field" for k in body if k not in known}
