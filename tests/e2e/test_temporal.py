"""The service on Temporal, over real HTTP: a real dev server fires the schedules, the Temporal
worker runs in the service's process, the Runner is real HTTP. The same scenario on the embedded
backend gives the same answers and the same run records."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy

from extsched.api.app import create_app
from extsched.backends.base import schedule_key
from extsched.backends.temporal.dev_server import DevServer
from extsched.config import Settings
from extsched.domain.invocation import iso_z
from tests.conftest import JWT_SECRET, Personas
from tests.e2e.conftest import demo_run_now, launched
from tests.support.postgres import free_port
from tests.support.runner_stub import RunnerStub, runner_stub
from tests.support.seed import content_hash, install, publish
from tests.support.served import Served, serve
from tests.support.temporal import task_queue

pytestmark = pytest.mark.temporal

ENDPOINTS = [
    {"method": "POST", "path": "/echo", "handler": "builtin:echo"},
    {"method": "POST", "path": "/fail", "handler": "builtin:fail"},
]
BASE = "/api/extensions/acme.sample/schedules"
DONE = ("success", "error", "timeout", "skipped", "missed")


def settings_for(
    tmp: Path, backend: str, server: DevServer | None, runner_url: str, queue: str = ""
) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp}/{backend}.db",
        jwt_secret=JWT_SECRET,
        backend=backend,  # type: ignore[arg-type]
        runner_base_url=runner_url,
        gateway_timeout_ms=5000,
        temporal_address=server.address if server else None,
        temporal_task_queue=queue or "extsched",
    )


@pytest.fixture
async def on_temporal(
    tmp_path: Path, temporal_server: DevServer
) -> AsyncIterator[tuple[Served, RunnerStub]]:
    async with runner_stub() as stub:
        settings = settings_for(tmp_path, "temporal", temporal_server, stub.url, task_queue())
        async with serve(create_app(settings)) as served:
            yield served, stub


async def first_run(served: Served, personas: Personas, schedule_id: str) -> dict[str, Any]:
    """The schedule's first run once it has ended."""
    deadline = time.monotonic() + 30
    while True:
        r = await served.client.get(f"{BASE}/{schedule_id}/runs", headers=personas.admin_a.headers)
        runs = r.json()["runs"]
        if runs and runs[-1]["status"] in DONE:
            return dict(runs[-1])
        assert time.monotonic() < deadline, runs
        await asyncio.sleep(0.1)


async def sample(served: Served, personas: Personas, version: str = "1.0.0") -> dict[str, str]:
    published = await publish(served.client, personas.operator, endpoints=ENDPOINTS)
    await install(served.client, personas.admin_a, published["registryId"])
    return {f"{e['method']} {e['path']}": e["id"] for e in published["endpoints"]}


async def test_a_schedule_fires_on_temporal_with_the_runner_request_of_the_contract(
    on_temporal: tuple[Served, RunnerStub], personas: Personas, temporal_server: DevServer
) -> None:
    served, stub = on_temporal
    endpoints = await sample(served, personas)
    occurrence = (datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    cron = f"{occurrence.minute} {occurrence.hour} * * *"
    r = await served.client.post(
        BASE,
        json={"endpointId": endpoints["POST /echo"], "cron": cron, "payloadJson": {"n": 1}},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 201, r.text
    schedule = r.json()
    key = schedule_key("tenant-a", schedule["installId"], schedule["id"])
    client = await Client.connect(temporal_server.address)
    handle = client.get_schedule_handle(key)
    described = await handle.describe()
    assert described.schedule.spec.time_zone_name == "UTC"
    # Fire the occurrence two minutes ago now, as Temporal would after a short outage.
    await handle.backfill(
        ScheduleBackfill(
            start_at=occurrence - timedelta(seconds=30),
            end_at=occurrence + timedelta(seconds=30),
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
        )
    )
    run = await first_run(served, personas, schedule["id"])
    [call] = stub.calls
    assert (run["trigger"], run["status"], run["attempt"], run["httpStatus"]) == (
        "schedule",
        "success",
        1,
        200,
    )
    assert run["scheduledFor"] == iso_z(occurrence)
    h, body = call["headers"], call["body"]
    assert (h["x-idempotency-key"], h["x-request-id"]) == (run["id"], f"{run['id']}.1")
    assert (h["x-alga-tenant"], h["x-alga-extension"]) == ("tenant-a", schedule_registry(body))
    ctx = body["context"]
    assert (ctx["trigger"], ctx["schedule_id"], ctx["run_id"], ctx["attempt"]) == (
        "schedule",
        schedule["id"],
        run["id"],
        1,
    )
    assert (ctx["scheduled_for"], ctx["content_hash"]) == (iso_z(occurrence), content_hash("1.0.0"))
    assert (body["http"]["method"], body["http"]["path"]) == ("POST", "/echo")
    assert body["http"]["headers"]["x-alga-trigger"] == "schedule"
    assert json.loads(base64.b64decode(body["http"]["body_b64"])) == {"n": 1}
    assert "user" not in body


def schedule_registry(body: dict[str, Any]) -> str:
    return str(body["context"]["extension_id"])


async def test_pausing_stops_the_fires_and_deleting_removes_the_temporal_schedule(
    on_temporal: tuple[Served, RunnerStub], personas: Personas, temporal_server: DevServer
) -> None:
    served, stub = on_temporal
    endpoints = await sample(served, personas)
    occurrence = (datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    r = await served.client.post(
        BASE,
        json={
            "endpointId": endpoints["POST /echo"],
            "cron": f"{occurrence.minute} {occurrence.hour} * * *",
        },
        headers=personas.admin_a.headers,
    )
    schedule = r.json()
    key = schedule_key("tenant-a", schedule["installId"], schedule["id"])
    client = await Client.connect(temporal_server.address)
    handle = client.get_schedule_handle(key)
    r = await served.client.patch(
        f"{BASE}/{schedule['id']}", json={"enabled": False}, headers=personas.admin_a.headers
    )
    assert (r.status_code, r.json()["nextRunAt"]) == (200, None)
    assert (await handle.describe()).schedule.state.paused
    # A backfill goes through even a paused Temporal schedule: the run checks stop it.
    await handle.backfill(
        ScheduleBackfill(
            start_at=occurrence - timedelta(seconds=30),
            end_at=occurrence + timedelta(seconds=30),
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
        )
    )
    run = await first_run(served, personas, schedule["id"])
    assert (run["status"], run["skipReason"]) == ("skipped", "schedule_disabled")
    assert stub.calls == []
    r = await served.client.delete(f"{BASE}/{schedule['id']}", headers=personas.admin_a.headers)
    assert r.status_code == 204
    from temporalio.service import RPCError

    with pytest.raises(RPCError):
        await handle.describe()


async def scenario(served: Served, personas: Personas) -> dict[str, Any]:
    """Run-now, a retryable and a permanent failure, disable/enable, delete and a blocked and a
    forced remap, through the API; what each step answered and recorded, ids left out."""
    h = personas.admin_a.headers
    seen: dict[str, Any] = {}
    published = await publish(served.client, personas.operator, endpoints=ENDPOINTS)
    await install(served.client, personas.admin_a, published["registryId"])
    ids = {f"{e['method']} {e['path']}": e["id"] for e in published["endpoints"]}

    async def schedule(name: str, endpoint: str, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "endpointId": ids[endpoint], "cron": "0 3 * * *", **extra}
        r = await served.client.post(BASE, json=body, headers=h)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def run_now(s: dict[str, Any]) -> dict[str, Any]:
        r = await served.client.post(f"{BASE}/{s['id']}/run-now", headers=h)
        assert r.status_code == 202, r.text
        run = await first_run(served, personas, s["id"])
        keep = ("trigger", "status", "skipReason", "attempt", "maxAttempts", "httpStatus", "error")
        return {k: run[k] for k in keep}

    echo = await schedule("echo", "POST /echo", payloadJson={"n": 1})
    seen["echo"] = await run_now(echo)
    server_error = await schedule("503", "POST /fail", payloadJson={"status": 503}, maxAttempts=1)
    seen["503"] = await run_now(server_error)
    gone = await schedule("404", "POST /fail", payloadJson={"status": 404})
    seen["404"] = await run_now(gone)
    r = await served.client.get(f"{BASE}/{gone['id']}", headers=h)
    seen["after failure"] = {k: r.json()[k] for k in ("lastRunStatus", "consecutiveFailures")}

    r = await served.client.post("/api/v1/extensions/acme.sample/disable", headers=h)
    seen["disable"] = r.status_code
    r = await served.client.post(f"{BASE}/{echo['id']}/run-now", headers=h)
    seen["run-now while disabled"] = (r.status_code, r.json()["code"])
    r = await served.client.get(f"{BASE}/{echo['id']}", headers=h)
    seen["next run while disabled"] = r.json()["nextRunAt"]
    r = await served.client.post("/api/v1/extensions/acme.sample/enable", headers=h)
    seen["enable"] = r.status_code

    v2 = await publish(
        served.client,
        personas.operator,
        registry_id=published["registryId"],
        version="2.0.0",
        endpoints=ENDPOINTS[:1],
    )
    assert v2["version"] == "2.0.0"
    update = {"registryId": published["registryId"], "version": "2.0.0"}
    r = await served.client.post("/api/v1/extensions/update", json=update, headers=h)
    seen["blocked update"] = (
        r.status_code,
        r.json()["code"],
        sorted(m["name"] for m in r.json()["missing"]),
    )
    r = await served.client.post(
        "/api/v1/extensions/update", json={**update, "disableMissingSchedules": True}, headers=h
    )
    seen["forced update"] = r.status_code
    r = await served.client.get(BASE, headers=h)
    seen["after update"] = sorted(
        (s["name"], s["enabled"], s["disabledReason"], s["endpointPath"])
        for s in r.json()["schedules"]
    )
    backend = served.app.state.services.backend
    key = schedule_key("tenant-a", echo["installId"], server_error["id"])
    described = await backend.describe(key)
    seen["disabled one on the backend"] = described is not None and described.paused
    r = await served.client.delete(f"{BASE}/{echo['id']}", headers=h)
    seen["delete"] = r.status_code
    seen["deleted on the backend"] = await backend.describe(
        schedule_key("tenant-a", echo["installId"], echo["id"])
    )
    return seen


async def test_the_service_answers_and_records_the_same_on_temporal_as_on_embedded(
    tmp_path: Path, temporal_server: DevServer, personas: Personas
) -> None:
    results = {}
    for backend in ("embedded", "temporal"):
        runner_url = f"http://127.0.0.1:{free_port()}"
        server = temporal_server if backend == "temporal" else None
        settings = settings_for(tmp_path, backend, server, runner_url, task_queue())
        async with serve(create_app(settings, dev_runner=True)) as served:
            results[backend] = await scenario(served, personas)
    assert results["temporal"] == results["embedded"]
    seen = results["temporal"]
    assert seen["echo"] == {
        "trigger": "run_now",
        "status": "success",
        "skipReason": None,
        "attempt": 1,
        "maxAttempts": 3,
        "httpStatus": 200,
        "error": None,
    }
    assert (seen["503"]["status"], seen["503"]["httpStatus"]) == ("error", 503)
    assert (seen["404"]["status"], seen["404"]["attempt"], seen["404"]["httpStatus"]) == (
        "error",
        1,
        404,
    )
    assert seen["run-now while disabled"] == (409, "EXTENSION_DISABLED")
    assert seen["blocked update"] == (409, "SCHEDULE_REMAP_FAILED", ["404", "503"])
    assert seen["after update"] == [
        ("404", False, "endpoint_missing_after_update", "/fail"),
        ("503", False, "endpoint_missing_after_update", "/fail"),
        ("echo", True, None, "/echo"),
    ]
    assert seen["disabled one on the backend"] is True
    assert (seen["delete"], seen["deleted on the backend"]) == (204, None)


def test_the_demo_on_temporal_starts_its_own_dev_server_and_runs_the_demo_schedule(
    tmp_path: Path,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"},
        "EXTSCHED_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
        "EXTSCHED_JWT_SECRET": JWT_SECRET,
        "RUNNER_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "TEMPORAL_TASK_QUEUE": task_queue(),
    }
    log = tmp_path / "demo.log"
    with launched(["demo", "--backend", "temporal"], env, log, timeout=60) as base:
        printed = log.read_text()
        assert "Temporal dev server (in memory) at 127.0.0.1:" in printed
        assert "its web UI: http://127.0.0.1:" in printed
        # The demo's first run is a run-now, executed by the Temporal worker.
        run = demo_run_now(base, env, timeout=60)
        assert (run["status"], run["httpStatus"]) == ("success", 200)
        assert httpx.get(f"{base}/readyz").json()["checks"]["backend"] == "ok"
    # The dev server it started went with it.
    address = printed.split("Temporal dev server (in memory) at ", 1)[1].split(";", 1)[0]
    host, dev_port = address.rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(dev_port)), timeout=2).close()
