"""Runner client throughput and CPU per call against the shared stub, for each library measured.

    .venv/bin/python bench/runner_client.py [--calls 10000] [--concurrency 256]

Target (issue 6): at least 5,000 calls/s, so the client is never the bottleneck. The stub runs in
its own process, so "CPU ms per call" is the client's own cost: the figure that decides how many
calls one worker process can make while it also does its database work.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.burst import Stub, commit, machine  # noqa: E402
from bench.common import append_results  # noqa: E402
from extsched.domain.install_config import InstallConfig  # noqa: E402
from extsched.domain.invocation import Invocation, build_request, read_response  # noqa: E402
from extsched.runner_client import RunnerClient  # noqa: E402

CONFIG = InstallConfig("i", "t", "r", "v", "sha256:" + "0" * 64, {"region": "eu"}, ["cap:log.emit"])


def invocation(i: int) -> Invocation:
    return Invocation(
        f"run-{i}", f"run-{i}.1", "schedule", "s", datetime.now(UTC), 1, "POST", "/hit", {"i": i},
        CONFIG, 30_000,
    )  # fmt: skip


async def measure(
    stub: Stub, calls: int, concurrency: int, one: Callable[[int], Awaitable[bool]]
) -> tuple[int, float, float]:
    """Wall seconds and this process's CPU seconds for ``calls`` calls, ``concurrency`` at once."""
    await stub.reset()
    gate = asyncio.Semaphore(concurrency)

    async def gated(i: int) -> bool:
        async with gate:
            return await one(i)

    wall, cpu = time.perf_counter(), time.process_time()
    results = await asyncio.gather(*(gated(i) for i in range(calls)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert all(results)
    stats = await stub.stats()
    assert stats["calls"] == calls and stats["duplicates"] == 0, stats
    return calls, wall, cpu


async def main(calls: int, concurrency: int) -> None:
    stub = Stub()
    url = f"{stub.url}/v1/execute"
    rows: list[tuple[str, int, float, float]] = []
    try:
        async with aiohttp.ClientSession() as s:

            async def bare(i: int) -> bool:
                async with s.post(url, json={"context": {"run_id": str(i)}}) as r:
                    await r.read()
                    return r.status == 200

            async def aiohttp_full(i: int) -> bool:
                headers, body = build_request(invocation(i))
                async with s.post(url, data=orjson.dumps(body), headers=headers) as r:
                    return read_response(r.status, await r.read()).ok

            rows.append(
                (
                    "aiohttp, bare POSTs (the shared floor)",
                    *await measure(stub, calls, concurrency, bare),
                )
            )
            rows.append(
                (
                    "aiohttp, full /v1/execute request",
                    *await measure(stub, calls, concurrency, aiohttp_full),
                )
            )

        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as h:

            async def httpx_full(i: int) -> bool:
                headers, body = build_request(invocation(i))
                r = await h.post(url, content=orjson.dumps(body), headers=headers)
                return read_response(r.status_code, r.content).ok

            # Many times slower: a tenth of the calls keeps the benchmark short.
            n = max(1, calls // 10)
            rows.append(
                (
                    "httpx, full /v1/execute request",
                    *await measure(stub, n, concurrency, httpx_full),
                )
            )

        client = RunnerClient(stub.url)

        async def ours(i: int) -> bool:
            return (await client.execute(invocation(i))).ok

        rows.append(
            (
                "extsched RunnerClient, full /v1/execute request",
                *await measure(stub, calls, concurrency, ours),
            )
        )
        await client.close()
    finally:
        stub.stop()
    lines = [
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — Runner client, commit {commit()}\n",
        f"Machine: {machine()}. Command: `.venv/bin/python bench/runner_client.py "
        f"--calls {calls} --concurrency {concurrency}`.\n",
        "| client | calls | seconds | calls/s | client CPU ms per call |",
        "|---|---|---|---|---|",
    ]
    for name, n, wall, cpu in rows:
        lines.append(f"| {name} | {n} | {wall:.2f} | {n / wall:.0f} | {cpu / n * 1000:.3f} |")
        print(lines[-1])
    lines.append("\nTarget: ≥ 5,000 calls/s.\n")
    append_results("\n".join(lines))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=256)
    a = ap.parse_args()
    asyncio.run(main(a.calls, a.concurrency))
