"""One contract suite for every JobRunner: memory, embedded on SQLite, embedded on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from extsched.backends.base import JobRunner, ScheduleSpec, TriggerRequest, schedule_key
from extsched.backends.embedded.job_runner import EmbeddedJobRunner
from extsched.backends.memory import MemoryJobRunner
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.services.container import Services
from extsched.store.db import Database

NOW = datetime(2027, 1, 4, 9, 0, 30, tzinfo=UTC)
KEY = schedule_key("tenant-a", "inst-1", "sch-1")
DAILY = ScheduleSpec(cron="0 10 * * *", timezone="UTC", jitter_seconds=0)


@pytest.fixture(
    params=[
        "memory",
        "embedded-sqlite",
        pytest.param("embedded-postgres", marks=pytest.mark.postgres),
    ]
)
async def runner(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[JobRunner]:
    clock.set(NOW)
    if request.param == "memory":
        yield MemoryJobRunner(clock)
        return
    url = request.getfixturevalue("pg_url" if request.param.endswith("postgres") else "sqlite_url")
    db = Database(url)
    try:
        # Wired as in a process: the embedded backend calls up to the run pipeline.
        backend = Services.build(Settings(database_url=url), db, clock).backend
        assert isinstance(backend, EmbeddedJobRunner)
        yield backend
    finally:
        await db.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: object, tmp_path: object) -> str:
    import shutil
    from pathlib import Path

    path = Path(str(tmp_path)) / "contract.db"
    shutil.copy(str(sqlite_template), path)
    return f"sqlite:///{path}"


async def test_ensure_creates_and_describe_reports_the_next_fires(runner: JobRunner) -> None:
    assert await runner.describe(KEY) is None
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    d = await runner.describe(KEY)
    assert d is not None
    assert (d.key, d.spec.cron, d.spec.timezone, d.paused) == (KEY, "0 10 * * *", "UTC", False)
    assert d.next_fire_times[:2] == [
        datetime(2027, 1, 4, 10, tzinfo=UTC),
        datetime(2027, 1, 5, 10, tzinfo=UTC),
    ]


async def test_ensure_is_idempotent_and_updates_in_place(runner: JobRunner) -> None:
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    assert await runner.list_keys() == [KEY]
    hourly = ScheduleSpec(cron="0 * * * *", timezone="Europe/London", jitter_seconds=5)
    await runner.ensure_schedule(KEY, hourly, paused=False)
    d = await runner.describe(KEY)
    assert d is not None
    assert (d.spec.cron, d.spec.timezone, d.spec.jitter_seconds) == (
        "0 * * * *",
        "Europe/London",
        5,
    )
    assert d.next_fire_times[0] == datetime(2027, 1, 4, 10, tzinfo=UTC)
    assert await runner.list_keys() == [KEY]


async def test_pause_and_resume(runner: JobRunner, clock: ManualClock) -> None:
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    await runner.pause(KEY)
    await runner.pause(KEY)
    d = await runner.describe(KEY)
    assert d is not None and d.paused and d.next_fire_times == []
    clock.advance(timedelta(days=2))
    await runner.resume(KEY)
    await runner.resume(KEY)
    d = await runner.describe(KEY)
    assert d is not None and not d.paused
    # No back-fill: the next fire is after "now", not the ones that passed while paused.
    assert d.next_fire_times[0] == datetime(2027, 1, 6, 10, tzinfo=UTC)


async def test_ensure_can_create_paused(runner: JobRunner) -> None:
    await runner.ensure_schedule(KEY, DAILY, paused=True)
    d = await runner.describe(KEY)
    assert d is not None and d.paused


async def test_pause_or_resume_of_an_unknown_key_raises_key_error(runner: JobRunner) -> None:
    with pytest.raises(KeyError):
        await runner.pause(KEY)
    with pytest.raises(KeyError):
        await runner.resume(KEY)


async def test_delete_succeeds_when_already_gone(runner: JobRunner) -> None:
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    await runner.delete(KEY)
    await runner.delete(KEY)
    assert await runner.describe(KEY) is None
    assert await runner.list_keys() == []


async def test_list_keys_filters_by_prefix_and_sorts(runner: JobRunner) -> None:
    keys = [
        schedule_key("tenant-b", "i", "s2"),
        schedule_key("tenant-a", "i", "s1"),
        schedule_key("tenant-a", "j", "s3"),
    ]
    for k in keys:
        await runner.ensure_schedule(k, DAILY, paused=False)
    assert await runner.list_keys() == sorted(keys)
    assert await runner.list_keys("extsched:tenant-a:") == sorted(keys[1:])


async def test_trigger_hands_the_run_over_once(runner: JobRunner) -> None:
    await runner.ensure_schedule(KEY, DAILY, paused=False)
    run = TriggerRequest(tenant_id="tenant-a", run_id="run-1")
    await runner.trigger(KEY, run)
    await runner.trigger(KEY, run)
    if isinstance(runner, MemoryJobRunner):
        assert runner.triggered == [(KEY, run)]
    else:
        assert isinstance(runner, EmbeddedJobRunner)
        # The run row is already queued in the shared database; the worker is woken for it.
        assert runner.runs_waiting.is_set()
