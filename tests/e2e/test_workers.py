"""Worker processes for real: two on one PostgreSQL share a burst; a killed one loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from extsched.backends.embedded.worker import Worker
from extsched.clock import ManualClock, SystemClock
from extsched.config import Settings
from extsched.services.container import Services
from extsched.store.db import Database
from extsched.store.run_repo import RunRepo
from extsched.store.tables import embedded_schedule
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule_run as run_t
from tests.support.burst import count_runs, prepare_due
from tests.support.runner_stub import hang, runner_stub, slow

EXTSCHED = str(Path(sys.executable).with_name("extsched"))


def start_worker(url: str, runner_url: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [EXTSCHED, "worker"],
            env={
                **os.environ,
                "EXTSCHED_DATABASE_URL": url,
                "RUNNER_BASE_URL": runner_url,
                "EXTSCHED_LOG_LEVEL": "WARNING",
                **env,
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.terminate()
    for p in started:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


async def wait_for(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.reliability(
    fault="two worker processes on one PostgreSQL, 500 schedules due at once",
    guarantee="each occurrence called exactly once",
)
@pytest.mark.postgres
async def test_two_worker_processes_fire_500_due_schedules_exactly_once(
    pg_url: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]], observed: list[str]
) -> None:
    async with runner_stub() as stub:
        stub.default = slow(0.02)  # calls take a while, so one worker cannot finish alone
        now = datetime.now(UTC)
        await prepare_due(pg_url, stub.url, 500, SystemClock(), now - timedelta(seconds=1))
        for i in range(2):
            # Four calls at once: a worker then holds at most 240 runs (60 per call slot).
            log = tmp_path / f"worker{i}.log"
            procs.append(start_worker(pg_url, stub.url, log, EXTSCHED_WORKER_CONCURRENCY="4"))
        await wait_for(lambda: len(stub.calls) >= 500, 90, "500 runner calls")
        for _ in range(50):  # let late duplicates, if any, arrive
            await asyncio.sleep(0.02)
        counts: dict[str, int] = {}
        for _ in range(200):
            counts = await count_runs(pg_url)
            if counts.get("success") == 500:
                break
            await asyncio.sleep(0.05)
    run_ids = [c["headers"]["x-idempotency-key"] for c in stub.calls]
    assert len(run_ids) == 500
    assert len(set(run_ids)) == 500
    assert counts == {"success": 500}
    schedule_ids = {c["body"]["context"]["schedule_id"] for c in stub.calls}
    assert len(schedule_ids) == 500
    # Both workers made calls: each attempt names the lease owner that made it.
    db = Database(pg_url)
    try:
        async with db.connect() as conn:
            rows = await conn.execute(
                sa.select(attempt_t.c.worker, sa.func.count()).group_by(attempt_t.c.worker)
            )
            by_worker = {str(w): int(n) for w, n in rows.all()}
    finally:
        await db.dispose()
    assert len(by_worker) == 2 and sum(by_worker.values()) == 500, by_worker
    observed.append(
        f"500 due: {len(run_ids)} Runner calls, {len(set(run_ids))} distinct runs, "
        f"split {sorted(by_worker.values())} between the two workers"
    )


@pytest.mark.postgres
async def test_two_worker_processes_prepare_ahead_and_fire_on_time_exactly_once(
    pg_url: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    """Due a few seconds after the workers start: both dispatch and lease ahead, none calls
    before the fire time, and each run is called once."""
    async with runner_stub() as stub:
        due = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
        await prepare_due(pg_url, stub.url, 300, SystemClock(), due)
        for i in range(2):
            procs.append(start_worker(pg_url, stub.url, tmp_path / f"worker{i}.log"))
        await wait_for(lambda: len(stub.calls) >= 300, 90, "300 runner calls")
        for _ in range(50):  # let late duplicates, if any, arrive
            await asyncio.sleep(0.02)
    assert min(c["arrived_at"] for c in stub.calls) >= due.timestamp()
    run_ids = [c["headers"]["x-idempotency-key"] for c in stub.calls]
    assert len(run_ids) == len(set(run_ids)) == 300
    assert {c["body"]["context"]["scheduled_for"] for c in stub.calls} == {
        due.isoformat().replace("+00:00", "Z")
    }


@pytest.mark.reliability(
    fault="a worker process SIGKILLed mid-run",
    guarantee="its run is retried once after the lease expires, with the same idempotency key; the lost attempt is recorded abandoned",
)
async def test_a_worker_killed_mid_run_leaves_the_run_to_be_retried_once(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    release = asyncio.Event()
    async with runner_stub() as stub:
        now = datetime.now(UTC).replace(microsecond=0)
        await prepare_due(url, stub.url, 1, SystemClock(), now - timedelta(seconds=1))
        stub.script = [hang(release)]
        proc = start_worker(url, stub.url, tmp_path / "worker.log", EXT_GATEWAY_TIMEOUT_MS="60000")
        procs.append(proc)
        await wait_for(lambda: len(stub.calls) == 1, 60, "the first call")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        release.set()

        db = Database(url)
        try:
            async with db.connect() as conn:
                [run] = (await conn.execute(run_t.select())).all()
            assert (run.status, run.attempt) == ("running", 1)
            lease_expires = run.lease_expires_at
            clock = ManualClock(now)
            svc = Services.build(Settings(database_url=url, runner_base_url=stub.url), db, clock)
            assert svc.engine is not None
            survivor = Worker(
                svc.pipeline, clock, lease_ttl=svc.engine.worker.lease_ttl, owner="survivor"
            )
            clock.set(lease_expires - timedelta(seconds=1))
            assert await survivor.run_once() == 0  # the lease still holds
            clock.set(lease_expires + timedelta(seconds=1))
            assert await survivor.reap_expired() == 1
            clock.advance(timedelta(seconds=10))
            assert await survivor.run_once() == 1
            async with db.connect() as conn:
                [run] = (await conn.execute(run_t.select())).all()
            assert (run.status, run.attempt) == ("success", 2)
            async with db.connect() as conn:
                attempts = await RunRepo(conn).attempts(run.tenant_id, run.id)
            assert [(a["attempt"], a["outcome"]) for a in attempts] == [
                (1, "abandoned"),
                (2, "success"),
            ]
            keys = [c["headers"]["x-idempotency-key"] for c in stub.calls]
            assert keys == [run.id, run.id]
            # Not blocked: the schedule's next occurrence runs as usual.
            async with db.transaction() as conn:
                await conn.execute(
                    embedded_schedule.update().values(
                        next_fire_for=clock.now(), fire_at=clock.now()
                    )
                )
            assert svc.engine is not None
            svc.engine.worker.owner = "survivor"
            await svc.engine.dispatcher.dispatch_due()
            assert await survivor.run_once() == 1
            assert len(stub.calls) == 3
            await svc.close()
        finally:
            await db.dispose()
