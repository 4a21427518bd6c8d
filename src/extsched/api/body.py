"""Request bodies (SPEC §4): read only once the credential passed, capped, parsed by the JSON rules.

Routes never declare FastAPI body parameters: FastAPI reads and parses those before any
dependency runs, so an anonymous caller could make the process read and parse a body of any size.
Here the body is a dependency of the route's credential check: a 401 or 403 is answered without
reading a byte of it. A body over ``EXTSCHED_MAX_BODY_BYTES`` is refused while it arrives, and one
large enough to cost noticeable CPU is parsed off the event loop.

A body that is not acceptable JSON is not refused at once: ``value()`` raises when the service asks
for it, after the lookups that answer 404 first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from extsched.domain import json_rules
from extsched.errors import PayloadTooLarge, ValidationFailed

M = TypeVar("M", bound=BaseModel)

# Bodies larger than this are parsed in a worker thread, so the loop keeps serving meanwhile.
OFFLOAD_BYTES = 64 * 1024


class RequestBody:
    """A request's JSON body, or the reason it is not acceptable JSON."""

    __slots__ = ("_error", "_value")

    def __init__(self, value: Any = None, error: ValidationFailed | None = None) -> None:
        self._value = value
        self._error = error

    @classmethod
    def parse(cls, raw: bytes) -> RequestBody:
        try:
            return cls(json_rules.parse(raw))
        except json_rules.JsonRejected as exc:
            return cls(error=ValidationFailed("the body is invalid", field_errors=exc.field_errors))

    def value(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value

    def model(self, cls: type[M]) -> M:
        """The body validated as ``cls``; every invalid field reported at once."""
        raw = self.value()
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ValidationFailed(
                "the body is invalid", field_errors=field_errors(exc.errors())
            ) from None


def field_errors(errors: Any) -> dict[str, str]:
    """Pydantic's errors as ``{field: message}``, the first message of each field."""
    found: dict[str, str] = {}
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        message = "unknown field" if err.get("type") == "extra_forbidden" else str(err.get("msg"))
        found.setdefault(".".join(loc) or json_rules.BODY, message)
    return found


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, or PayloadTooLarge as soon as it is known to exceed ``limit`` bytes
    (from Content-Length before reading, else while the chunks arrive)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@cache
def body_after(guard: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[RequestBody]]:
    """A dependency reading the body after ``guard``, the route's own credential dependency (the
    same callable, so FastAPI runs it once per request)."""

    # A default, not an annotation: FastAPI cannot resolve a closure's string annotations.
    async def read(request: Request, _: Any = Depends(guard)) -> RequestBody:
        limit: int = request.app.state.services.settings.max_body_bytes
        raw = await read_capped(request, limit)
        if len(raw) > OFFLOAD_BYTES:
            return await asyncio.to_thread(RequestBody.parse, raw)
        return RequestBody.parse(raw)

    return read
