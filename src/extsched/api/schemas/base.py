"""The wire conventions every shape shares, and how a shape becomes a response."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


def rfc3339(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


class Wire(BaseModel):
    """camelCase on the wire; Python names in code."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class In(Wire):
    """A request body: exact types, and an unknown field is an error rather than ignored."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True)


class Problem(Wire):
    """An RFC 9457 problem document; some codes add members (``missing``, ``limit``, ...)."""

    model_config = ConfigDict(alias_generator=to_camel, extra="allow", title="Problem")

    type: str = "about:blank"
    status: int
    title: str
    detail: str
    code: str = Field(description="A stable machine-readable code, e.g. VALIDATION_FAILED")
    field_errors: dict[str, str] | None = Field(
        default=None, description="Every invalid field with its message (validation only)"
    )


def reply(
    shape: BaseModel, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    """``shape`` as the JSON response.

    Serialized by orjson from the model's plain values rather than by Pydantic's JSON mode, whose
    depth limit (about 250 levels) would make a stored payload nested that deep unreadable.
    """
    data: Any = shape.model_dump(mode="python", by_alias=True)
    return Response(
        orjson.dumps(data, option=JSON_OPTIONS),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
