"""Worker processes SIGKILLed and replaced again and again during a burst on PostgreSQL, and the
database itself restarted in the middle of it: every occurrence ends with exactly one run, each
run succeeds exactly once, and a call cut short is retried under the same idempotency key."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from extsched.clock import SystemClock
from extsched.store.db import Database
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from tests.e2e.test_workers import start_worker
from tests.support.burst import count_runs, prepare_due
from tests.support.postgres import PostgresServer
from tests.support.runner_stub import runner_stub, slow

pytestmark = pytest.mark.postgres

SCALE = int(os.environ.get("EXTSCHED_FAULT_SCALE", "1"))
DUE = 300 * SCALE
KILLS = 4 * SCALE


@pytest.fixture(scope="module")
def chaos_pg() -> Iterator[PostgresServer]:
    """A server of this module's own: the test restarts it."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.reliability(
    fault="worker processes SIGKILLed and replaced during a PostgreSQL burst, and PostgreSQL "
    "restarted in the middle of it",
    guarantee="one run per occurrence, each succeeding once; calls cut short retried under the "
    "same idempotency key; nothing left queued or running",
)
async def test_killed_workers_and_a_database_restart_lose_and_duplicate_nothing(
    chaos_pg: PostgresServer, tmp_path: Path, observed: list[str]
) -> None:
    url = chaos_pg.url(chaos_pg.create_database())
    procs: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    async with runner_stub() as stub:
        stub.default = slow(0.05)  # each call takes a while: kills land mid-call
        await prepare_due(
            url, stub.url, DUE, SystemClock(), datetime.now(UTC) - timedelta(seconds=1)
        )

        def worker(i: int) -> subprocess.Popen[bytes]:
            proc = start_worker(
                url,
                stub.url,
                tmp_path / f"worker{i}.log",
                EXTSCHED_WORKER_CONCURRENCY="8",
                EXT_GATEWAY_TIMEOUT_MS="2000",
            )
            procs.append(proc)
            return proc

        live = [worker(0), worker(1)]
        try:
            for k in range(KILLS):
                await asyncio.sleep(0.7)
                victim = live.pop(0)
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=10)
                live.append(worker(2 + k))
                if k == KILLS // 2:
                    chaos_pg.halt()
                    await asyncio.sleep(1.0)
                    chaos_pg.resume()
            deadline = time.monotonic() + 120 + DUE / 10
            counts: dict[str, int] = {}
            while counts != {"success": DUE}:
                counts = await count_runs(url)
                assert time.monotonic() < deadline, counts
                await asyncio.sleep(0.5)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                p.wait(timeout=60)
    db = Database(url)
    try:
        async with db.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(attempt_t.c.run_id, attempt_t.c.outcome, attempt_t.c.attempt)
                )
            ).all()
    finally:
        await db.dispose()
    successes: dict[str, int] = {}
    for run_id, outcome, _ in rows:
        if outcome == "success":
            successes[run_id] = successes.get(run_id, 0) + 1
    assert len(successes) == DUE and set(successes.values()) == {1}
    keys = [c["headers"]["x-idempotency-key"] for c in stub.calls]
    assert len(set(keys)) == DUE  # every call named one of the DUE runs
    retried = sum(1 for _, _, attempt in rows if attempt > 1)
    observed.append(
        f"{DUE} due, {KILLS} worker SIGKILLs and a PostgreSQL restart: {DUE} runs, each one "
        f"success; {len(keys)} Runner calls for {len(set(keys))} runs ({len(keys) - DUE} repeated "
        f"under their run's key); {retried} later attempts; drained in "
        f"{time.monotonic() - started:.0f} s"
    )
