"""The wire conventions every shape shares, and how a shape becomes a response."""

from __future__ import annotations

import json
import math
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
    """``shape`` as the JSON response."""
    return Response(
        encode(shape.model_dump(mode="python", by_alias=True)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def encode(data: Any) -> bytes:
    """JSON of plain values. Pydantic's JSON mode and orjson both stop at about 250 levels; data
    stored before the depth rule may nest deeper, and must still be readable, so such data is
    written by a loop instead of recursion."""
    try:
        return orjson.dumps(data, option=JSON_OPTIONS)
    except TypeError:  # too deep, or text orjson refuses (a lone surrogate stored long ago)
        return _encode_by_loop(data).encode()


class _Text(str):
    """JSON text already written, on the encoder's stack."""


def _encode_by_loop(value: Any) -> str:
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Text):
            out.append(item)
        elif isinstance(item, dict):
            stack.append(_Text("}"))
            entries = list(item.items())
            for i in range(len(entries) - 1, -1, -1):
                key, child = entries[i]
                stack.append(child)
                stack.append(_Text(("," if i else "") + json.dumps(str(key)) + ":"))
            stack.append(_Text("{"))
        elif isinstance(item, list | tuple):
            stack.append(_Text("]"))
            for i in range(len(item) - 1, -1, -1):
                stack.append(item[i])
                if i:
                    stack.append(_Text(","))
            stack.append(_Text("["))
        elif isinstance(item, datetime):
            out.append(json.dumps(rfc3339(item)))
        elif isinstance(item, float) and not math.isfinite(item):
            out.append("null")
        else:
            out.append(json.dumps(item))
    return "".join(out)
