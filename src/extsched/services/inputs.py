"""Request bodies as services receive them: read by the edge, judged by the service.

A service looks up what the path names (the install, the schedule) before it reads the body, so a
missing resource answers 404 before a faulty body answers 422 (SPEC §8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


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
