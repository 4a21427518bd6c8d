"""The HTTP gateway (SPEC §10a) over real HTTP: the API served by uvicorn, the Runner played by the
dev runner (or, for the Runner's failures, by a scripted stand-in)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web

from extsched.api.app import create_app
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.devrunner.app import DevRunner, start
from extsched.services.container import Services
from tests.conftest import JWT_SECRET, Personas
from tests.support.postgres import free_port
from tests.support.runner_stub import RunnerStub, hang, raw, runner_stub
from tests.support.seed import install, installed_sample
from tests.support.served import Served, serve

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
EXT = "/api/ext/acme.sample"


@dataclass
class Gateway:
    served: Served
    svc: Services
    clock: ManualClock
    personas: Personas
    ext: dict[str, Any]

    async def call(self, method: str, path: str, who: str = "admin_a", **kw: Any) -> httpx.Response:
        headers = {**getattr(self.personas, who).headers, **kw.pop("headers", {})}
        return await self.served.client.request(method, EXT + path, headers=headers, **kw)


@asynccontextmanager
async def gateway_over(
    runner_url: str, db_url: str, personas: Personas, **settings: Any
) -> AsyncIterator[Gateway]:
    clock = ManualClock(T0)
    config = Settings(
        database_url=db_url,
        jwt_secret=JWT_SECRET,
        runner_base_url=runner_url,
        gateway_rate_burst=settings.pop("burst", 100),
        gateway_rate_per_second=settings.pop("per_second", 20),
        **settings,
    )
    app = create_app(config, clock=clock, background=False)
    async with serve(app) as served:
        ext = await installed_sample(served.client, personas.operator, personas.admin_a)
        yield Gateway(served, app.state.services, clock, personas, ext)


@dataclass
class Dev:
    url: str
    runner: DevRunner

    @property
    def recent(self) -> list[dict[str, Any]]:
        return self.runner.recent


@pytest.fixture
async def dev() -> AsyncIterator[Dev]:
    port = free_port()
    site, impl = await start("127.0.0.1", port)
    try:
        yield Dev(f"http://127.0.0.1:{port}", impl)
    finally:
        await site.cleanup()


@pytest.fixture
async def gw(dev: Dev, db_url: str, personas: Personas) -> AsyncIterator[Gateway]:
    async with gateway_over(dev.url, db_url, personas) as g:
        yield g


Scripted = Callable[..., AbstractAsyncContextManager[tuple[Gateway, RunnerStub]]]


@pytest.fixture
def scripted(db_url: str, personas: Personas) -> Scripted:
    @asynccontextmanager
    async def make(**settings: Any) -> AsyncIterator[tuple[Gateway, RunnerStub]]:
        async with runner_stub() as stub, gateway_over(stub.url, db_url, personas, **settings) as g:
            yield g, stub

    return make


def last_request(dev: Dev) -> dict[str, Any]:
    body: dict[str, Any] = dev.recent[-1]["body"]
    return body


async def test_a_get_reaches_the_endpoint_with_its_query_allowed_headers_and_user(
    gw: Gateway, dev: Dev
) -> None:
    r = await gw.call(
        "GET",
        "/status?a=1&a=2&b=x",
        headers={
            "X-Request-Id": "trace-123",
            "Accept": "application/json",
            "User-Agent": "tests/1.0",
            "Cookie": "session=secret",
            "X-Custom": "dropped",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True}
    assert r.headers["content-type"] == "application/json"
    sent = last_request(dev)
    assert sent["context"]["trigger"] == "http"
    assert sent["context"]["request_id"] == "trace-123"
    assert (sent["http"]["method"], sent["http"]["path"]) == ("GET", "/status")
    assert sent["http"]["query"] == {"a": "2", "b": "x"}
    headers = sent["http"]["headers"]
    assert headers["x-request-id"] == "trace-123"
    assert (headers["accept"], headers["user-agent"]) == ("application/json", "tests/1.0")
    assert headers["x-alga-trigger"] == "http"
    assert not {"authorization", "cookie", "x-custom"} & set(headers)
    assert "body_b64" not in sent["http"]
    assert sent["user"] == {"id": "alice", "userType": "msp"}
    assert "authorization" not in {k.lower() for k in dev.recent[-1]["headers"]}


async def test_a_path_parameter_matches_exactly_one_non_empty_segment(
    gw: Gateway, dev: Dev
) -> None:
    r = await gw.call("POST", "/items/42", json={"qty": 3})
    assert r.status_code == 200, r.text
    echoed = r.json()
    assert (echoed["path"], echoed["payload"], echoed["trigger"]) == (
        "/items/42",
        {"qty": 3},
        "http",
    )
    sent = last_request(dev)["http"]
    assert sent["headers"]["content-type"] == "application/json"
    assert json.loads(base64.b64decode(sent["body_b64"])) == {"qty": 3}
    for method, path in (("POST", "/items/"), ("POST", "/items/4/2"), ("GET", "/sync")):
        miss = await gw.call(method, path)
        assert miss.status_code == 404, (method, path)
        assert miss.json()["code"] == "ENDPOINT_NOT_FOUND"


async def test_head_is_answered_as_get_without_a_body(gw: Gateway, dev: Dev) -> None:
    r = await gw.call("HEAD", "/status")
    assert r.status_code == 200
    assert r.content == b""
    assert last_request(dev)["http"]["method"] == "GET"


async def test_checks_come_in_the_order_spec_fixes(gw: Gateway, dev: Dev) -> None:
    anonymous = await gw.served.client.post(EXT + "/sync")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert (await gw.call("POST", "/sync", who="reader_a")).json()["code"] == "FORBIDDEN"
    assert (await gw.call("GET", "/status", who="reader_a")).status_code == 200
    # Another tenant: not installed for it, even for an endpoint that does not exist.
    other = await gw.call("POST", "/no-such-endpoint", who="admin_b")
    assert (other.status_code, other.json()["code"]) == (404, "EXTENSION_NOT_INSTALLED")
    # Client-portal users may call extensions (and the Runner is told who they are).
    client = await gw.call("GET", "/status", who="client_a")
    assert client.status_code == 200
    assert last_request(dev)["user"] == {"id": "carl", "userType": "client"}
    calls = len(dev.recent)
    r = await gw.served.client.post(
        f"/api/v1/extensions/{gw.ext['install']['id']}/disable", headers=gw.personas.admin_a.headers
    )
    assert r.status_code == 200
    disabled = await gw.call("GET", "/status")
    assert (disabled.status_code, disabled.json()["code"]) == (404, "EXTENSION_NOT_INSTALLED")
    assert len(dev.recent) == calls


@pytest.mark.reliability(
    fault="gateway bodies over 10 MiB, declared or chunked",
    guarantee="413 before the Runner is called",
)
async def test_a_body_over_10_mib_is_refused_declared_or_chunked_after_the_lookups(
    gw: Gateway, dev: Dev
) -> None:
    big = b"x" * (10 * 1024 * 1024 + 1)
    declared = await gw.call("POST", "/sync", content=big)
    assert (declared.status_code, declared.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(11):
            yield b"y" * (1024 * 1024)

    chunked = await gw.call("POST", "/sync", content=chunks())
    assert (chunked.status_code, chunked.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    unknown = await gw.call("POST", "/nowhere", content=big)
    assert unknown.json()["code"] == "ENDPOINT_NOT_FOUND"
    assert dev.recent == []
    at_limit = await gw.call("POST", "/sync", content=b"z" * (10 * 1024 * 1024))
    assert at_limit.status_code == 200


@pytest.mark.reliability(
    fault="a gateway caller over its rate",
    guarantee="429 with Retry-After; the Runner never sees the refused call",
)
async def test_the_token_bucket_refuses_before_the_runner_and_refills(
    dev: Dev, db_url: str, personas: Personas
) -> None:
    async with gateway_over(dev.url, db_url, personas, burst=3, per_second=0.5) as g:
        for _ in range(3):
            assert (await g.call("GET", "/status")).status_code == 200
        refused = await g.call("GET", "/status")
        assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
        assert refused.headers["retry-after"] == "2"
        assert len(dev.recent) == 3
        # Per tenant and extension: another tenant's bucket is its own.
        await install(g.served.client, personas.admin_b, g.ext["registryId"])
        assert (await g.call("GET", "/status", who="admin_b")).status_code == 200
        g.clock.advance(timedelta(seconds=2))
        assert (await g.call("GET", "/status")).status_code == 200
        assert (await g.call("GET", "/status")).status_code == 429


async def test_the_extensions_own_answer_passes_with_only_the_allowed_headers(
    scripted: Scripted,
) -> None:
    async def teapot(_: dict[str, Any]) -> web.StreamResponse:
        return web.json_response(
            {
                "status": 418,
                "headers": {
                    "Content-Type": "text/plain",
                    "ETag": '"v1"',
                    "Cache-Control": "no-store",
                    "Set-Cookie": "a=b",
                    "X-Internal": "secret",
                },
                "body_b64": base64.b64encode(b"short and stout").decode(),
            }
        )

    async with scripted() as (g, stub):
        stub.script.append(teapot)
        r = await g.call(
            "POST", "/sync", content=b"raw bytes", headers={"Content-Type": "text/plain"}
        )
        assert (r.status_code, r.content) == (418, b"short and stout")
        assert (r.headers["content-type"], r.headers["etag"]) == ("text/plain", '"v1"')
        assert r.headers["cache-control"] == "no-store"
        assert "set-cookie" not in r.headers and "x-internal" not in r.headers
        sent = stub.calls[0]["body"]["http"]
        assert base64.b64decode(sent["body_b64"]) == b"raw bytes"
        assert sent["headers"]["content-type"] == "text/plain"


@pytest.mark.reliability(
    fault="the Runner failing behind the gateway (5xx, empty, not JSON, oversized, no status, timeout)",
    guarantee="502 BAD_GATEWAY or 504 GATEWAY_TIMEOUT, problem+json",
)
@pytest.mark.parametrize(
    ("behaviour", "status", "code"),
    [
        (raw(500, "boom"), 502, "BAD_GATEWAY"),
        (raw(200, ""), 502, "BAD_GATEWAY"),
        (raw(200, "<html>", "text/html"), 502, "BAD_GATEWAY"),
        (raw(200, json.dumps({"status": 200, "body_b64": "x" * 300_000})), 502, "BAD_GATEWAY"),
        (raw(200, json.dumps({"headers": {}})), 502, "BAD_GATEWAY"),
        (None, 504, "GATEWAY_TIMEOUT"),
    ],
    ids=["runner-500", "empty", "not-json", "oversized", "no-status", "timeout"],
)
async def test_runner_failures_map_to_502_and_504(
    scripted: Scripted,
    behaviour: Callable[[dict[str, Any]], Awaitable[web.StreamResponse]] | None,
    status: int,
    code: str,
) -> None:
    release = asyncio.Event()
    async with scripted(gateway_timeout_ms=300) as (g, stub):
        stub.script.append(behaviour or hang(release))
        r = await g.call("POST", "/sync", json={})
        release.set()
        assert (r.status_code, r.json()["code"]) == (status, code)
        assert r.headers["content-type"] == "application/problem+json"


async def test_a_runner_that_refuses_connections_is_a_502(db_url: str, personas: Personas) -> None:
    async with gateway_over(f"http://127.0.0.1:{free_port()}", db_url, personas) as g:
        r = await g.call("GET", "/status")
        assert (r.status_code, r.json()["code"]) == (502, "BAD_GATEWAY")
        assert "connection" in r.json()["detail"]


async def test_a_scheduled_call_and_a_gateway_call_send_the_same_runner_request(
    gw: Gateway, dev: Dev
) -> None:
    """Apart from what the trigger itself is: its context fields and headers, the user, the
    request id, the caller's forwarded headers and the body."""
    h = gw.personas.admin_a.headers
    base = "/api/extensions/acme.sample/schedules"
    r = await gw.served.client.post(
        base,
        json={
            "endpointId": gw.ext["endpoints"]["POST /sync"],
            "cron": "0 3 * * *",
            "payloadJson": {"n": 1},
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert (
        await gw.served.client.post(f"{base}/{r.json()['id']}/run-now", headers=h)
    ).status_code == 202
    assert gw.svc.engine is not None
    await gw.svc.engine.tick()
    scheduled = dev.recent[-1]
    assert scheduled["body"]["context"]["trigger"] == "run_now"
    assert (await gw.call("POST", "/sync", json={"n": 1})).status_code == 200
    through_gateway = dev.recent[-1]

    def common(seen: dict[str, Any]) -> dict[str, Any]:
        body = json.loads(json.dumps(seen["body"]))
        for key in ("trigger", "request_id", "schedule_id", "run_id", "scheduled_for", "attempt"):
            body["context"].pop(key, None)
        trigger_headers = ("x-alga-trigger", "x-alga-schedule-id", "x-alga-scheduled-for")
        forwarded = ("x-request-id", "accept", "accept-encoding", "user-agent")
        for key in (*trigger_headers, *forwarded):
            body["http"]["headers"].pop(key, None)
        body["http"].pop("body_b64", None)
        body.pop("user", None)
        headers = {k.lower(): v for k, v in seen["headers"].items()}
        kept = {"content-type", "x-alga-tenant", "x-alga-extension", "x-runner-service-token"}
        return {"body": body, "headers": {k: v for k, v in headers.items() if k in kept}}

    assert common(scheduled) == common(through_gateway)
    assert through_gateway["body"]["context"]["trigger"] == "http"
    assert "user" not in scheduled["body"] and through_gateway["body"]["user"]["id"] == "alice"


async def test_each_call_is_measured_and_logged_without_its_body(
    gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="extsched.services.gateway"):
        assert (await gw.call("POST", "/sync", json={"marker": "do-not-log-me"})).status_code == 200
        assert (await gw.call("GET", "/nowhere")).status_code == 404
    [record] = [r for r in caplog.records if r.name == "extsched.services.gateway"]
    assert "POST /sync answered 200" in record.getMessage()
    assert record.tenant_id == "tenant-a"
    assert record.extension_id == gw.ext["registryId"]
    assert all("do-not-log-me" not in r.getMessage() for r in caplog.records)
    metrics = (await gw.served.client.get("/metrics")).text
    assert 'extsched_gateway_requests_total{status="200"} 1.0' in metrics
    assert "extsched_gateway_duration_seconds_count 1.0" in metrics


@pytest.mark.reliability(
    fault="header injection through install config, gateway query and path",
    guarantee="no injected header reaches the Runner",
)
async def test_line_breaks_in_install_data_query_or_path_never_become_runner_headers(
    gw: Gateway, dev: Dev
) -> None:
    h = gw.personas.admin_a.headers
    evil = "v\r\nx-evil: 1"
    r = await gw.served.client.put(
        f"/api/v1/extensions/{gw.ext['install']['id']}/config",
        json={"config": {"k": evil}},
        headers=h,
    )
    assert r.status_code == 200
    # A path with a line break names no route at all.
    r = await gw.call("POST", "/items/a%0D%0Ax-evil:%201", json={})
    assert r.status_code == 404
    assert dev.recent == []
    r = await gw.call("POST", "/items/a%20b:%3A?q=%0D%0Ax-evil:%202", json={})
    assert r.status_code == 200, r.text
    seen = dev.recent[-1]
    assert not [k for k in seen["headers"] if k.lower() == "x-evil"]
    assert "x-evil" not in seen["body"]["http"]["headers"]
    assert seen["body"]["context"]["config"] == {"k": evil}  # carried as data
    assert seen["body"]["http"]["query"] == {"q": "\r\nx-evil: 2"}
    assert seen["body"]["http"]["path"] == "/items/a b::"
