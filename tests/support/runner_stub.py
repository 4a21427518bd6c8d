"""A Runner stand-in over real HTTP whose answers each test scripts, recording every call."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.postgres import free_port

Behaviour = Callable[[dict[str, Any]], Awaitable[web.StreamResponse]]


def ok(status: int = 200, body: Any = None) -> Behaviour:
    async def answer(_: dict[str, Any]) -> web.StreamResponse:
        raw = json.dumps(body if body is not None else {"ok": True}).encode()
        return web.json_response(
            {
                "status": status,
                "headers": {"content-type": "application/json"},
                "body_b64": base64.b64encode(raw).decode(),
                "error": None,
            }
        )

    return answer


def raw(http_status: int, text: str = "", content_type: str = "application/json") -> Behaviour:
    async def answer(_: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=http_status, text=text, content_type=content_type)

    return answer


def slow(seconds: float, then: Behaviour | None = None) -> Behaviour:
    async def answer(call: dict[str, Any]) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await (then or ok())(call)

    return answer


def hang(release: asyncio.Event, then: Behaviour | None = None) -> Behaviour:
    async def answer(call: dict[str, Any]) -> web.StreamResponse:
        await release.wait()
        return await (then or ok())(call)

    return answer


@dataclass
class RunnerStub:
    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    script: list[Behaviour] = field(default_factory=list)
    default: Behaviour = field(default_factory=ok)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        call = {
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body,
            "arrived_at": time.time(),
        }
        self.calls.append(call)
        self.arrived.set()
        behaviour = self.script.pop(0) if self.script else self.default
        return await behaviour(call)


@asynccontextmanager
async def runner_stub() -> AsyncIterator[RunnerStub]:
    port = free_port()
    stub = RunnerStub(url=f"http://127.0.0.1:{port}")
    app = web.Application()
    app.router.add_post("/v1/execute", stub.handle)
    app_runner = web.AppRunner(app, access_log=None)
    await app_runner.setup()
    await web.TCPSite(app_runner, "127.0.0.1", port).start()
    try:
        yield stub
    finally:
        await app_runner.cleanup()
