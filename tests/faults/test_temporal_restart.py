"""The Temporal dev server stopped and started again (same state file) while the service's
schedules are active: the schedules are still there, the service's client and worker reconnect
on their own, the next run runs once, and nothing that ran before runs again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy

from extsched.api.app import create_app
from extsched.backends.base import schedule_key
from extsched.backends.temporal.dev_server import DevServer, start_dev_server
from extsched.config import Settings
from tests.conftest import JWT_SECRET, Personas
from tests.support.runner_stub import RunnerStub, runner_stub
from tests.support.seed import install, publish
from tests.support.served import Served, serve
from tests.support.temporal import task_queue

pytestmark = pytest.mark.temporal

BASE = "/api/extensions/acme.sample/schedules"
ENDPOINTS = [{"method": "POST", "path": "/echo", "handler": "builtin:echo"}]


@pytest.fixture
def own_temporal(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A dev server of this test's own, keeping its state in a file so it can restart."""
    state: dict[str, Any] = {"db": str(tmp_path / "temporal.db")}
    state["server"] = start_dev_server(db_file=state["db"], log=tmp_path / "temporal.log")
    try:
        yield state
    finally:
        state["server"].stop()


def restart(state: dict[str, Any], tmp_path: Path) -> None:
    old: DevServer = state["server"]
    port = int(old.address.rsplit(":", 1)[1])
    old.stop()
    state["server"] = start_dev_server(
        db_file=state["db"], log=tmp_path / "temporal.log", port=port, http_port=old.http_port
    )


async def runs_of(served: Served, personas: Personas, schedule_id: str) -> list[dict[str, Any]]:
    r = await served.client.get(f"{BASE}/{schedule_id}/runs", headers=personas.admin_a.headers)
    return list(r.json()["runs"])


async def until_done(
    served: Served, personas: Personas, schedule_id: str, count: int, seconds: float = 60
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        runs = await runs_of(served, personas, schedule_id)
        if len(runs) >= count and all(r["status"] == "success" for r in runs):
            return runs
        assert time.monotonic() < deadline, runs
        await asyncio.sleep(0.2)


async def backfill(address: str, key: str, occurrence: datetime) -> None:
    client = await Client.connect(address)
    await client.get_schedule_handle(key).backfill(
        ScheduleBackfill(
            start_at=occurrence - timedelta(seconds=30),
            end_at=occurrence + timedelta(seconds=30),
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
        )
    )


@pytest.fixture
async def service(
    own_temporal: dict[str, Any], tmp_path: Path
) -> AsyncIterator[tuple[Served, RunnerStub]]:
    async with runner_stub() as stub:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path}/restart.db",
            jwt_secret=JWT_SECRET,
            backend="temporal",
            runner_base_url=stub.url,
            temporal_address=own_temporal["server"].address,
            temporal_task_queue=task_queue(),
        )
        async with serve(create_app(settings)) as served:
            yield served, stub


@pytest.mark.reliability(
    fault="the Temporal dev server restarted while schedules are active",
    guarantee="schedules survive, the worker reconnects by itself, the next run runs once and "
    "nothing runs twice",
)
async def test_after_a_temporal_restart_the_next_run_runs_once_and_nothing_twice(
    service: tuple[Served, RunnerStub],
    own_temporal: dict[str, Any],
    personas: Personas,
    tmp_path: Path,
    observed: list[str],
) -> None:
    served, stub = service
    h = personas.admin_a.headers
    published = await publish(served.client, personas.operator, endpoints=ENDPOINTS)
    await install(served.client, personas.admin_a, published["registryId"])
    r = await served.client.post(
        BASE, json={"endpointId": published["endpoints"][0]["id"], "cron": "0 3 * * *"}, headers=h
    )
    assert r.status_code == 201, r.text
    schedule = r.json()
    key = schedule_key("tenant-a", schedule["installId"], schedule["id"])
    run_now = f"{BASE}/{schedule['id']}/run-now"
    assert (await served.client.post(run_now, headers=h)).status_code == 202
    await until_done(served, personas, schedule["id"], 1)

    started = time.monotonic()
    restart(own_temporal, tmp_path)
    client = await Client.connect(own_temporal["server"].address)
    described = await client.get_schedule_handle(key).describe()
    assert described.schedule.spec.time_zone_name == "UTC"  # still there, as it was made
    assert not described.schedule.state.paused
    # The service's Temporal client and worker reconnect by themselves.
    assert (await served.client.post(run_now, headers=h)).status_code == 202
    runs = await until_done(served, personas, schedule["id"], 2)
    recovered = time.monotonic() - started
    assert len(runs) == 2
    keys = [c["headers"]["x-idempotency-key"] for c in stub.calls]
    assert sorted(keys) == sorted(r["id"] for r in runs)  # each run called once
    observed.append(
        f"restart and the next run done in {recovered:.1f} s; "
        f"{len(runs)} runs, {len(keys)} Runner calls, 0 duplicates"
    )
