"""The dev runner over real HTTP: routing headers, built-in handlers, idempotency, upstreams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from extsched.devrunner.app import DevRunner, start
from extsched.domain.install_config import InstallConfig
from extsched.domain.invocation import Invocation
from extsched.runner_client import RunnerClient
from tests.support.postgres import free_port


def invocation(
    path: str, payload: Any = None, run_id: str = "run-1", method: str = "POST"
) -> Invocation:
    return Invocation(
        run_id=run_id,
        request_id="req-" + run_id,
        trigger="schedule",
        schedule_id="sch-1",
        scheduled_for=datetime(2027, 1, 4, 9, tzinfo=UTC),
        attempt=1,
        method=method,
        path=path,
        payload=payload,
        install=InstallConfig("inst", "tenant-a", "reg-1", "ver-1", "sha256:" + "0" * 64, {}, []),
        timeout_ms=5000,
    )


@pytest.fixture
async def dev() -> AsyncIterator[tuple[str, DevRunner]]:
    port = free_port()
    site, impl = await start("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}", impl
    finally:
        await site.cleanup()


@pytest.fixture
async def client(dev: tuple[str, DevRunner]) -> AsyncIterator[RunnerClient]:
    c = RunnerClient(dev[0])
    try:
        yield c
    finally:
        await c.close()


async def test_routing_headers_are_required(dev: tuple[str, DevRunner]) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{dev[0]}/v1/execute", json={}) as r:
        assert r.status == 400
        assert await r.json() == {"error": "missing_routing_headers"}


async def test_echo_answers_with_what_it_was_sent(client: RunnerClient) -> None:
    result = await client.execute(invocation("/echo", {"a": 1}))
    assert result.ok and result.http_status == 200 and result.body is not None
    echoed = json.loads(result.body)
    assert (echoed["method"], echoed["path"], echoed["payload"]) == ("POST", "/echo", {"a": 1})
    assert echoed["scheduled_for"] == "2027-01-04T09:00:00Z"


async def test_fail_answers_the_status_asked_for(client: RunnerClient) -> None:
    result = await client.execute(invocation("/fail", {"status": 503}))
    assert (result.ok, result.retryable, result.http_status) == (False, True, 503)
    result = await client.execute(invocation("/fail", {"status": 422}, run_id="run-2"))
    assert (result.ok, result.retryable, result.http_status) == (False, False, 422)


async def test_a_completed_run_is_answered_from_the_idempotency_cache(
    dev: tuple[str, DevRunner], client: RunnerClient
) -> None:
    await client.execute(invocation("/echo", {"n": 1}, run_id="same"))
    second = await client.execute(invocation("/echo", {"n": 2}, run_id="same"))
    assert second.body is not None and json.loads(second.body)["payload"] == {"n": 1}
    assert len(dev[1].recent) == 1
    # A 5xx answer is not cached: the retry executes again.
    await client.execute(invocation("/fail", {"status": 500}, run_id="flaky"))
    await client.execute(invocation("/fail", {"status": 500}, run_id="flaky"))
    assert len(dev[1].recent) == 3


async def test_an_upstream_plays_the_extension() -> None:
    seen: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "path": request.path,
                "trigger": request.headers.get("x-alga-trigger"),
                "body": await request.text(),
            }
        )
        return web.json_response({"from": "upstream"}, status=201)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    upstream = web.AppRunner(app, access_log=None)
    await upstream.setup()
    up_port, port = free_port(), free_port()
    await web.TCPSite(upstream, "127.0.0.1", up_port).start()

    async def resolve(registry_id: str) -> str | None:
        return "acme.sample" if registry_id == "reg-1" else None

    site, _ = await start(
        "127.0.0.1", port, {"ACME.sample": f"http://127.0.0.1:{up_port}"}, resolve_slug=resolve
    )
    client = RunnerClient(f"http://127.0.0.1:{port}")
    try:
        result = await client.execute(invocation("/sync", {"x": 1}))
    finally:
        await client.close()
        await site.cleanup()
        await upstream.cleanup()
    assert (result.ok, result.http_status) == (True, 201)
    assert result.body is not None and json.loads(result.body) == {"from": "upstream"}
    assert seen == [{"method": "POST", "path": "/sync", "trigger": "schedule", "body": '{"x":1}'}]
