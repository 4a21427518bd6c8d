"""Sustained Runner client throughput against the shared stub, next to the aiohttp floor.

    .venv/bin/python bench/runner_client.py [--calls 10000] [--concurrency 256]

Target (issue 6): at least 5,000 calls/s, so the client is never the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.burst import Stub, commit, machine  # noqa: E402
from bench.common import append_results  # noqa: E402
from extsched.domain.install_config import InstallConfig  # noqa: E402
from extsched.domain.invocation import Invocation  # noqa: E402
from extsched.runner_client import RunnerClient  # noqa: E402


async def main(calls: int, concurrency: int) -> None:
    stub = Stub()
    gate = asyncio.Semaphore(concurrency)
    cfg = InstallConfig(
        "i", "t", "r", "v", "sha256:" + "0" * 64, {"region": "eu"}, ["cap:log.emit"]
    )
    try:
        async with aiohttp.ClientSession() as s:

            async def raw(i: int) -> None:
                async with (
                    gate,
                    s.post(f"{stub.url}/v1/execute", json={"context": {"run_id": str(i)}}) as r,
                ):
                    await r.read()

            start = time.perf_counter()
            await asyncio.gather(*(raw(i) for i in range(calls)))
            floor_s = time.perf_counter() - start
        await stub.reset()
        client = RunnerClient(stub.url)

        async def one(i: int) -> bool:
            inv = Invocation(
                f"run-{i}",
                f"run-{i}.1",
                "schedule",
                "s",
                datetime.now(UTC),
                1,
                "POST",
                "/hit",
                {"i": i},
                cfg,
                30_000,
            )
            async with gate:
                return (await client.execute(inv)).ok

        start = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(calls)))
        client_s = time.perf_counter() - start
        await client.close()
        assert all(results)
        stats = await stub.stats()
        assert stats["calls"] == calls and stats["duplicates"] == 0
    finally:
        stub.stop()
    text = (
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — Runner client, commit {commit()}\n\n"
        f"Machine: {machine()}. Command: `.venv/bin/python bench/runner_client.py "
        f"--calls {calls} --concurrency {concurrency}`.\n\n"
        "| client | calls | seconds | calls/s |\n|---|---|---|---|\n"
        f"| aiohttp floor (bare POSTs) | {calls} | {floor_s:.2f} | {calls / floor_s:.0f} |\n"
        f"| extsched RunnerClient (full /v1/execute request) | {calls} | {client_s:.2f} | "
        f"{calls / client_s:.0f} |\n\nTarget: ≥ 5,000 calls/s.\n"
    )
    append_results(text)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=256)
    a = ap.parse_args()
    asyncio.run(main(a.calls, a.concurrency))
