"""One contract suite for every JobRunner: memory, embedded on SQLite and on PostgreSQL, and
Temporal (a real dev server). Each backend keeps time its own way: the memory and embedded ones
by the test's clock, Temporal by the real one; next fire times are checked against extsched's
cron engine at the backend's own "now"."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from extsched.backends.base import JobRunner, ScheduleSpec, TriggerRequest, schedule_key
from extsched.backends.embedded.job_runner import EmbeddedJobRunner
from extsched.backends.memory import MemoryJobRunner
from extsched.backends.temporal.dev_server import DevServer
from extsched.backends.temporal.job_runner import TemporalJobRunner
from extsched.backends.temporal.workflows import run_workflow_id
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.domain.cron import occurrences
from extsched.services.container import Services
from extsched.store.db import Database
from tests.support.temporal import delete_all, job_runner, task_queue

NOW = datetime(2027, 1, 4, 9, 0, 30, tzinfo=UTC)
KEY = schedule_key("tenant-a", "inst-1", "sch-1")
DAILY = ScheduleSpec(cron="0 10 * * *", timezone="UTC", jitter_seconds=0)


@dataclass
class Contract:
    runner: JobRunner
    now: Callable[[], datetime]
    clock: ManualClock | None  # None: the backend keeps real time

    def next_fires(self, spec: ScheduleSpec, count: int = 2) -> list[datetime]:
        return occurrences(spec.cron, spec.timezone, self.now(), count)


@pytest.fixture(
    params=[
        "memory",
        "embedded-sqlite",
        pytest.param("embedded-postgres", marks=pytest.mark.postgres),
        pytest.param("temporal", marks=pytest.mark.temporal),
    ]
)
async def contract(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[Contract]:
    clock.set(NOW)
    if request.param == "memory":
        yield Contract(MemoryJobRunner(clock), clock.now, clock)
        return
    if request.param == "temporal":
        server: DevServer = request.getfixturevalue("temporal_server")
        client = await Client.connect(server.address)
        await delete_all(client)
        try:
            yield Contract(job_runner(client, task_queue()), lambda: datetime.now(UTC), None)
        finally:
            await delete_all(client)
        return
    url = request.getfixturevalue("pg_url" if request.param.endswith("postgres") else "sqlite_url")
    db = Database(url)
    try:
        # Wired as in a process: the embedded backend calls up to the run pipeline.
        backend = Services.build(Settings(database_url=url), db, clock).backend
        assert isinstance(backend, EmbeddedJobRunner)
        yield Contract(backend, clock.now, clock)
    finally:
        await db.dispose()


async def listed(runner: JobRunner, prefix: str, expected: int) -> list[str]:
    """``list_keys``, waiting a moment for Temporal's list, which follows writes shortly after."""
    for _ in range(100):
        keys = await runner.list_keys(prefix)
        if len(keys) == expected:
            break
        await asyncio.sleep(0.05)
    return keys


@pytest.fixture
def sqlite_url(sqlite_template: object, tmp_path: object) -> str:
    import shutil
    from pathlib import Path

    path = Path(str(tmp_path)) / "contract.db"
    shutil.copy(str(sqlite_template), path)
    return f"sqlite:///{path}"


async def test_ensure_creates_and_describe_reports_the_next_fires(contract: Contract) -> None:
    runner = contract.runner
    assert await runner.describe(KEY) is None
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    d = await runner.describe(KEY)
    assert d is not None
    assert (d.key, d.spec.cron, d.spec.timezone, d.paused) == (KEY, "0 10 * * *", "UTC", False)
    assert d.next_fire_times[:2] == contract.next_fires(DAILY)


async def test_ensure_is_idempotent_and_updates_in_place(contract: Contract) -> None:
    runner = contract.runner
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    assert await listed(runner, "extsched", 1) == [KEY]
    hourly = ScheduleSpec(cron="0 * * * *", timezone="Europe/London", jitter_seconds=5)
    await runner.ensure_schedule(KEY, hourly, paused=False)
    d = await runner.describe(KEY)
    assert d is not None
    assert (d.spec.cron, d.spec.timezone, d.spec.jitter_seconds) == (
        "0 * * * *",
        "Europe/London",
        5,
    )
    assert d.next_fire_times[0] == contract.next_fires(hourly, 1)[0]
    assert await listed(runner, "extsched", 1) == [KEY]


async def test_pause_and_resume(contract: Contract) -> None:
    runner = contract.runner
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    await runner.pause(KEY)
    await runner.pause(KEY)
    d = await runner.describe(KEY)
    assert d is not None and d.paused and d.next_fire_times == []
    if contract.clock is not None:
        contract.clock.advance(timedelta(days=2))
    await runner.resume(KEY)
    await runner.resume(KEY)
    d = await runner.describe(KEY)
    assert d is not None and not d.paused
    # No back-fill: the next fire is after "now", not the ones that passed while paused.
    assert d.next_fire_times[0] == contract.next_fires(DAILY, 1)[0]
    assert (d.spec.cron, d.spec.timezone) == (DAILY.cron, DAILY.timezone)


async def test_ensure_can_create_paused(contract: Contract) -> None:
    await contract.runner.ensure_schedule(KEY, DAILY, paused=True)
    d = await contract.runner.describe(KEY)
    assert d is not None and d.paused


async def test_pause_or_resume_of_an_unknown_key_raises_key_error(contract: Contract) -> None:
    with pytest.raises(KeyError):
        await contract.runner.pause(KEY)
    with pytest.raises(KeyError):
        await contract.runner.resume(KEY)


async def test_delete_succeeds_when_already_gone(contract: Contract) -> None:
    runner = contract.runner
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    await runner.delete(KEY)
    await runner.delete(KEY)
    assert await runner.describe(KEY) is None
    assert await listed(runner, "extsched", 0) == []


async def test_list_keys_filters_by_prefix_and_sorts(contract: Contract) -> None:
    runner = contract.runner
    keys = [
        schedule_key("tenant-b", "i", "s2"),
        schedule_key("tenant-a", "i", "s1"),
        schedule_key("tenant-a", "j", "s3"),
    ]
    for k in keys:
        await runner.ensure_schedule(k, DAILY, paused=False)
    assert await listed(runner, "extsched", 3) == sorted(keys)
    assert await listed(runner, "extsched:tenant-a:", 2) == sorted(keys[1:])


async def test_snapshot_reports_each_schedules_state(contract: Contract) -> None:
    runner = contract.runner
    other = schedule_key("tenant-a", "i", "s9")
    hourly = ScheduleSpec(cron="0 * * * *", timezone="Asia/Tokyo", jitter_seconds=7)
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    await runner.ensure_schedule(other, hourly, paused=True)
    await listed(runner, "extsched", 2)
    snap = await runner.snapshot()
    assert snap[KEY] == ("0 10 * * *", "UTC", 0, False)
    assert snap[other] == ("0 * * * *", "Asia/Tokyo", 7, True)


async def test_trigger_hands_the_run_over_once(contract: Contract) -> None:
    runner = contract.runner
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    run = TriggerRequest(tenant_id="tenant-a", run_id=f"run-{uuid.uuid4().hex[:8]}")
    first, again = await runner.trigger(KEY, run), await runner.trigger(KEY, run)
    # The embedded backend's queue is the database the run is already in.
    assert (first, again) == (not isinstance(runner, EmbeddedJobRunner), False)
    if isinstance(runner, MemoryJobRunner):
        assert runner.triggered == [(KEY, run)]
    elif isinstance(runner, TemporalJobRunner):
        # One workflow for the run, whatever the number of triggers (no worker polls this
        # test's queue: it waits there until the session's server goes).
        wf = runner.client.get_workflow_handle(run_workflow_id("tenant-a", run.run_id))
        assert (await wf.describe()).id == run_workflow_id("tenant-a", run.run_id)
    else:
        assert isinstance(runner, EmbeddedJobRunner)
        # The run row is already queued in the shared database; the worker is woken for it.
        assert runner.runs_waiting.is_set()
