"""The reconciler against a real Temporal: what is missing is created, what drifted is fixed,
what the database does not know is deleted; an embedded database switched to Temporal gets its
Temporal schedules, and the runs it had queued, from one reconcile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, ScheduleUpdate, ScheduleUpdateInput

from extsched.backends.base import ScheduleSpec, parse_key, schedule_key
from extsched.backends.temporal.activities import Activities, Limits
from extsched.backends.temporal.dev_server import DevServer
from extsched.backends.temporal.job_runner import TemporalJobRunner
from extsched.backends.temporal.worker import build_worker
from extsched.backends.temporal.workflows import run_workflow_id
from extsched.clock import SystemClock
from extsched.config import Settings
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.services.inputs import Given
from extsched.store.db import Database
from extsched.store.run_repo import RunRepo
from tests.support.runner_stub import runner_stub
from tests.support.temporal import delete_all, job_runner, task_queue

pytestmark = pytest.mark.temporal
CALLER = Caller("tenant-r", "rita")


@pytest.fixture
async def client(temporal_server: DevServer) -> AsyncIterator[Client]:
    connected = await Client.connect(temporal_server.address)
    await delete_all(connected)
    yield connected
    await delete_all(connected)


async def seeded(db_url: str, backend: Any = None) -> tuple[Services, list[str]]:
    """Three schedules of one install, the third disabled."""
    db = Database(db_url)
    svc = Services.build(Settings(database_url=db_url), db, SystemClock(), backend)
    ext = await svc.registry.create_extension("acme", "rec")
    manifest = {"api": {"endpoints": [{"method": "POST", "path": "/x", "handler": "h"}]}}
    _, [endpoint] = await svc.registry.publish_version(
        ext.id, version="1", content_hash="sha256:" + "1" * 64, manifest=manifest
    )
    view = await svc.installs.install(CALLER, registry_id=ext.id, version="1")
    keys = []
    for i, cron in enumerate(("0 1 * * *", "0 2 * * *", "0 3 * * *")):
        body = {"endpointId": endpoint.id, "cron": cron, "enabled": i < 2}
        created = await svc.schedules.create(CALLER, view.install.id, Given(body))
        keys.append(schedule_key(CALLER.tenant_id, view.install.id, created.schedule.id))
    return svc, keys


async def settle(runner: TemporalJobRunner, keys: list[str]) -> None:
    """Until Temporal lists exactly ``keys`` (its list follows changes a moment later)."""
    for _ in range(200):
        if sorted(await runner.list_keys()) == sorted(keys):
            return
        await asyncio.sleep(0.05)


async def test_missing_drifted_and_orphan_temporal_schedules_are_repaired(
    db_url: str, client: Client
) -> None:
    runner = job_runner(client, task_queue())
    svc, keys = await seeded(db_url, runner)
    try:
        await settle(runner, keys)
        assert (await runner.describe(keys[2])).paused  # type: ignore[union-attr]
        await client.get_schedule_handle(keys[0]).delete()  # lost on Temporal's side

        async def drift(update: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = update.description.schedule
            schedule.state.note = "0 5 * * *|UTC|0"
            schedule.spec.cron_expressions = ["0 5 * * *"]
            schedule.spec.calendars = []
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(keys[1]).update(drift)
        orphan = schedule_key(CALLER.tenant_id, "gone-install", "gone-schedule")
        await runner.ensure_schedule(orphan, ScheduleSpec("0 4 * * *", "UTC", 0), paused=False)
        await settle(runner, [*keys[1:], orphan])
        for _ in range(200):  # and until it lists the drift (it follows an update a moment later)
            drifted = (await runner.snapshot()).get(keys[1])
            if drifted is not None and drifted.cron == "0 5 * * *":
                break
            await asyncio.sleep(0.05)

        changes = await svc.reconciler.run()
        assert sorted((c.action, c.key) for c in changes) == sorted(
            [("create", keys[0]), ("update", keys[1]), ("delete", orphan)]
        )
        crons = dict(zip(keys, ("0 1 * * *", "0 2 * * *", "0 3 * * *"), strict=True))
        for _ in range(200):  # Temporal's list shows an update a moment later
            states = await runner.snapshot()
            if {k: s.cron for k, s in states.items()} == crons:
                break
            await asyncio.sleep(0.05)
        assert sorted(await runner.list_keys()) == sorted(keys)
        for key, cron in crons.items():
            described = await runner.describe(key)
            assert described is not None and described.spec.cron == cron
        assert await svc.reconciler.run() == []  # nothing left to do
    finally:
        await svc.close()
        await svc.db.dispose()


async def test_an_embedded_database_switched_to_temporal_gets_its_schedules_and_runs_from_reconcile(
    db_url: str, client: Client
) -> None:
    embedded, keys = await seeded(db_url)
    tenant_id, install_id, schedule_id = parse_key(keys[0])
    # A run-now the embedded backend queued and no embedded worker lived to execute.
    queued, _ = await embedded.run_now.run_now(CALLER, install_id, schedule_id)
    await embedded.close()
    await embedded.db.dispose()
    runner = job_runner(client, task_queue())
    db = Database(db_url)
    async with runner_stub() as stub:
        settings = Settings(database_url=db_url, runner_base_url=stub.url)
        svc = Services.build(settings, db, SystemClock(), runner)
        try:
            assert await runner.list_keys() == []
            changes = await svc.reconciler.run()
            assert sorted((c.action, c.key) for c in changes) == sorted(
                [("create", k) for k in keys] + [("adopt", keys[0])]
            )
            await settle(runner, keys)
            assert await svc.reconciler.run() == []  # the run is handed over once
            states = await runner.snapshot()
            assert [states[k].paused for k in keys] == [False, False, True]
            assert [states[k].cron for k in keys] == ["0 1 * * *", "0 2 * * *", "0 3 * * *"]
            described = await runner.describe(keys[0])
            assert described is not None
            assert described.next_fire_times[1] - described.next_fire_times[0] == timedelta(days=1)

            limits = Limits(runner.call_timeout, runner.lease_ttl, runner.catchup_window)
            activities = Activities(svc.pipeline, svc.clock, limits)
            async with build_worker(client, runner.task_queue, activities):
                handle = client.get_workflow_handle(run_workflow_id(tenant_id, queued.id))
                await asyncio.wait_for(handle.result(), 30)
            async with db.connect() as conn:
                ran = await RunRepo(conn).get(tenant_id, queued.id)
            assert ran is not None and (ran.status, ran.trigger) == ("success", "run_now")
            [call] = stub.calls
            assert call["body"]["context"]["run_id"] == queued.id
        finally:
            await svc.close()
            await db.dispose()
