"""The exact /v1/execute request, and every way a Runner answer can fail, over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from extsched.domain.install_config import InstallConfig
from extsched.domain.invocation import Invocation
from extsched.runner_client import RunnerClient
from tests.support.postgres import free_port
from tests.support.runner_stub import RunnerStub, hang, ok, raw, runner_stub

CONFIG = InstallConfig(
    install_id="inst-1",
    tenant_id="tenant-a",
    registry_id="reg-1",
    version_id="ver-1",
    content_hash="sha256:" + "a" * 64,
    config={"region": "eu"},
    providers=["cap:context.read", "cap:log.emit", "cap:user.read"],
    secret_envelope={"format": "extsched.secrets.v1", "values": {"K": "v"}},
)


def invocation(method: str = "POST", payload: object = None, timeout_ms: int = 2000) -> Invocation:
    return Invocation(
        run_id="run-1",
        request_id="req-1",
        trigger="schedule",
        schedule_id="sch-1",
        scheduled_for=datetime(2027, 1, 4, 9, 0, tzinfo=UTC),
        attempt=1,
        method=method,
        path="/sync",
        payload=payload,
        install=CONFIG,
        timeout_ms=timeout_ms,
    )


@pytest.fixture
async def stub() -> AsyncIterator[RunnerStub]:
    async with runner_stub() as s:
        yield s


@pytest.fixture
async def client(stub: RunnerStub) -> AsyncIterator[RunnerClient]:
    c = RunnerClient(stub.url, service_token="svc-token", max_response_bytes=4096)
    try:
        yield c
    finally:
        await c.close()


async def test_a_post_with_payload_is_sent_exactly_as_the_contract_says(
    stub: RunnerStub, client: RunnerClient
) -> None:
    result = await client.execute(invocation(payload={"full": True, "note": "é"}))
    assert result.ok and result.http_status == 200
    [call] = stub.calls
    h = call["headers"]
    assert h["content-type"] == "application/json"
    assert h["x-request-id"] == "req-1"
    assert h["x-idempotency-key"] == "run-1"
    assert h["x-alga-tenant"] == "tenant-a"
    assert h["x-alga-extension"] == "reg-1"
    assert h["x-runner-service-token"] == "svc-token"
    assert "authorization" not in h
    body = call["body"]
    assert set(body) == {"context", "http", "limits", "providers", "secret_envelope"}
    assert body["context"] == {
        "request_id": "req-1",
        "tenant_id": "tenant-a",
        "extension_id": "reg-1",
        "install_id": "inst-1",
        "version_id": "ver-1",
        "content_hash": "sha256:" + "a" * 64,
        "config": {"region": "eu"},
        "trigger": "schedule",
        "schedule_id": "sch-1",
        "run_id": "run-1",
        "scheduled_for": "2027-01-04T09:00:00Z",
        "attempt": 1,
    }
    http = body["http"]
    assert {k: v for k, v in http.items() if k != "body_b64"} == {
        "method": "POST",
        "path": "/sync",
        "query": {},
        "headers": {
            "x-alga-tenant": "tenant-a",
            "x-alga-extension": "reg-1",
            "x-alga-trigger": "schedule",
            "x-alga-schedule-id": "sch-1",
            "x-alga-scheduled-for": "2027-01-04T09:00:00Z",
            "content-type": "application/json",
        },
    }
    assert json.loads(base64.b64decode(http["body_b64"]).decode("utf-8")) == {
        "full": True,
        "note": "é",
    }
    assert base64.b64decode(http["body_b64"]) == '{"full":true,"note":"é"}'.encode()
    assert body["limits"] == {"timeout_ms": 2000}
    assert body["providers"] == ["cap:context.read", "cap:log.emit", "cap:user.read"]
    assert body["secret_envelope"] == {"format": "extsched.secrets.v1", "values": {"K": "v"}}
    assert "user" not in body


async def test_a_get_has_no_body_and_no_content_type_header(
    stub: RunnerStub, client: RunnerClient
) -> None:
    await client.execute(invocation(method="GET"))
    http = stub.calls[0]["body"]["http"]
    assert http["method"] == "GET"
    assert "body_b64" not in http
    assert "content-type" not in http["headers"]


async def test_a_post_without_payload_has_no_body(stub: RunnerStub, client: RunnerClient) -> None:
    await client.execute(invocation(payload=None))
    http = stub.calls[0]["body"]["http"]
    assert "body_b64" not in http and "content-type" not in http["headers"]


@pytest.mark.parametrize(
    ("behaviour", "retryable", "status", "http_status", "error"),
    [
        (raw(500, "boom"), True, "error", None, "runner answered HTTP 500: boom"),
        (raw(200, ""), True, "error", None, "runner answered with an empty body"),
        (
            raw(200, "<html>", "text/html"),
            True,
            "error",
            None,
            "runner answered with a body that is not JSON",
        ),
        (
            raw(200, json.dumps({"headers": {}})),
            True,
            "error",
            None,
            "runner response has no numeric status",
        ),
        (raw(200, "x" * 5000), False, "error", None, "runner response larger than 4096 bytes"),
        (
            ok(404, {"error": "no such thing"}),
            False,
            "error",
            404,
            'extension answered 404: {"error": "no such thing"}',
        ),
        (
            ok(503, {"error": "busy"}),
            True,
            "error",
            503,
            'extension answered 503: {"error": "busy"}',
        ),
        (ok(204), False, "success", 204, None),
    ],
)
async def test_each_answer_is_classified(
    stub: RunnerStub,
    client: RunnerClient,
    behaviour: object,
    retryable: bool,
    status: str,
    http_status: int | None,
    error: str | None,
) -> None:
    stub.default = behaviour  # type: ignore[assignment]
    result = await client.execute(invocation(payload={"a": 1}))
    assert (result.retryable, result.status, result.http_status, result.error) == (
        retryable,
        status,
        http_status,
        error,
    )


async def test_the_error_keeps_only_the_first_500_characters_of_the_body(
    stub: RunnerStub, client: RunnerClient
) -> None:
    stub.default = ok(500, "y" * 900)
    result = await client.execute(invocation())
    assert result.error is not None
    assert result.error == "extension answered 500: " + ('"' + "y" * 499)


async def test_a_slow_runner_times_out(stub: RunnerStub, client: RunnerClient) -> None:
    release = asyncio.Event()
    stub.default = hang(release)
    result = await client.execute(invocation(timeout_ms=200))
    release.set()
    assert (result.ok, result.retryable, result.status) == (False, True, "timeout")
    assert result.error == "runner did not answer within 200 ms"


async def test_a_refused_connection_is_retryable() -> None:
    client = RunnerClient(f"http://127.0.0.1:{free_port()}")
    try:
        result = await client.execute(invocation())
    finally:
        await client.close()
    assert (result.ok, result.retryable, result.status) == (False, True, "error")
    assert result.error is not None and result.error.startswith("connection error: ")
