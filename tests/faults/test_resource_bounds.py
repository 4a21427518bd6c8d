"""A large fleet due at once and a Runner that never answers: the service holds at most its
concurrency of calls, its memory stays bounded, and health and list keep answering quickly.
``make faults`` runs 100,000 schedules (``EXTSCHED_FAULT_SCALE=10``); the suite 10,000."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from extsched.auth import EXTENSION_READ, mint_token
from extsched.clock import SystemClock
from tests.e2e.conftest import running
from tests.support.burst import count_runs, prepare_due_bulk
from tests.support.runner_stub import RunnerStub, hang, runner_stub

SCALE = int(os.environ.get("EXTSCHED_FAULT_SCALE", "1"))
FLEET = 10_000 * SCALE
CONCURRENCY = 256
MIB = 1024 * 1024
SECRET = "bounds-secret-0123456789-0123456789-xyz"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def p95(samples: list[float]) -> float:
    return sorted(samples)[int(0.95 * (len(samples) - 1))]


@pytest.fixture
async def hanging() -> AsyncIterator[tuple[RunnerStub, asyncio.Event]]:
    release = asyncio.Event()
    async with runner_stub() as stub:
        stub.default = hang(release)
        try:
            yield stub, release
        finally:
            release.set()


@dataclass
class Figures:
    in_flight: int
    runs: dict[str, int]
    rss_before: int
    rss_peak: int
    health: list[float]
    listing: list[float]


async def measure(
    base: str, proc: subprocess.Popen[bytes], url: str, stub: RunnerStub, tenant: str
) -> Figures:
    token = mint_token(SECRET, sub="u", tenant=tenant, permissions=[EXTENSION_READ])
    headers = {"Authorization": f"Bearer {token}"}
    listing_url = "/api/extensions/bench.fleet/schedules"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        assert (await client.get(listing_url, headers=headers)).status_code == 200
        before = rss(proc.pid)
        # The fleet comes due; the worker fills its slots and waits on the Runner.
        deadline = time.monotonic() + 120 + FLEET / 1000
        while len(stub.calls) < CONCURRENCY:
            assert time.monotonic() < deadline, f"{len(stub.calls)} calls"
            await asyncio.sleep(0.2)
        runs: dict[str, int] = {}
        while sum(runs.values()) < FLEET:  # every occurrence recorded as a run
            runs = await count_runs(url)
            assert time.monotonic() < deadline, runs
            await asyncio.sleep(0.5)
        health: list[float] = []
        listing: list[float] = []
        peak = 0
        for _ in range(100):
            start = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            health.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert (await client.get(listing_url, headers=headers)).status_code == 200
            listing.append(time.perf_counter() - start)
            peak = max(peak, rss(proc.pid))
            await asyncio.sleep(0.02)
        return Figures(len(stub.calls), runs, before, peak, health, listing)


@pytest.mark.reliability(
    fault="a fleet due at once (10,000 x EXTSCHED_FAULT_SCALE schedules) and a Runner that hangs",
    guarantee="calls in flight capped at the worker's concurrency; memory bounded; health and "
    "list keep answering",
)
async def test_a_hanging_runner_under_a_large_fleet_holds_memory_and_answers(
    tmp_path: Path, hanging: tuple[RunnerStub, asyncio.Event], observed: list[str]
) -> None:
    stub, _ = hanging
    url = f"sqlite:///{tmp_path}/fleet.db"
    due = datetime.now(UTC) + timedelta(seconds=20)
    tenants = await prepare_due_bulk(url, stub.url, FLEET, SystemClock(), due)
    env = {
        **os.environ,
        "EXTSCHED_DATABASE_URL": url,
        "EXTSCHED_JWT_SECRET": SECRET,
        "RUNNER_BASE_URL": stub.url,
        "EXTSCHED_WORKER_CONCURRENCY": str(CONCURRENCY),
        "EXT_GATEWAY_TIMEOUT_MS": "600000",  # the Runner hangs for the whole test
    }
    # Started before the fleet is due: ``running`` blocks this loop until /healthz answers,
    # while no call can arrive yet.
    with running(["serve"], env, tmp_path / "serve.log") as (base, proc):
        try:
            f = await measure(base, proc, url, stub, tenants[0])
        finally:
            proc.kill()  # its calls would wait for the Runner until their timeout
    observed.append(
        f"{FLEET} due at once: {f.in_flight} calls in flight (concurrency {CONCURRENCY}), "
        f"runs {f.runs}; RSS {f.rss_before / MIB:.0f} -> {f.rss_peak / MIB:.0f} MiB; "
        f"p95 health {p95(f.health) * 1000:.1f} ms, list {p95(f.listing) * 1000:.1f} ms "
        f"(median {statistics.median(f.listing) * 1000:.1f} ms)"
    )
    assert f.in_flight == CONCURRENCY
    grown = f.rss_peak - f.rss_before
    assert grown < 64 * MIB + FLEET * 1024, f"grew {grown / MIB:.0f} MiB"
