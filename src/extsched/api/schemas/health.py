"""Health shapes: liveness and readiness."""

from __future__ import annotations

from pydantic import Field

from extsched.api.schemas.base import Wire


class Health(Wire):
    status: str = Field(examples=["ok"])


class Readiness(Wire):
    status: str = Field(description="ready or not_ready")
    checks: dict[str, str] = Field(description="each dependency: ok, or what failed")
