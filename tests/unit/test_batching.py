"""Concurrent calls through a Coalescer: the first is handled at once, those arriving meanwhile
go together in the next batch, each gets its own result, and a failure reaches its batch only."""

from __future__ import annotations

import asyncio

import pytest

from extsched.batching import Coalescer


async def test_calls_arriving_during_a_batch_go_together_in_the_next() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def handle(items: list[int]) -> list[int]:
        batches.append(items)
        if len(batches) == 1:
            await release.wait()
        return [i * 10 for i in items]

    square = Coalescer(handle)
    first = asyncio.create_task(square(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert batches == [[1]]  # handled at once, without waiting for company
    rest = [asyncio.create_task(square(i)) for i in (2, 3, 4)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 10
    assert [await t for t in rest] == [20, 30, 40]
    assert batches == [[1], [2, 3, 4]]


async def test_a_failed_batch_fails_its_calls_and_the_next_batch_runs() -> None:
    async def handle(items: list[int]) -> list[int]:
        if 0 in items:
            raise RuntimeError("database away")
        return items

    echo = Coalescer(handle, max_batch=2)
    results = await asyncio.gather(echo(0), echo(1), echo(2), return_exceptions=True)
    assert [type(r).__name__ if isinstance(r, Exception) else r for r in results] == [
        "RuntimeError",
        "RuntimeError",
        2,
    ]
    assert await echo(5) == 5


async def test_a_cancelled_batch_cancels_the_calls_waiting_on_it() -> None:
    started = asyncio.Event()

    async def handle(items: list[int]) -> list[int]:
        started.set()
        await asyncio.Event().wait()
        return items

    stuck = Coalescer(handle)
    call = asyncio.create_task(stuck(1))
    await started.wait()
    assert stuck._drain is not None
    stuck._drain.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_calls_within_the_gap_after_a_batch_wait_and_go_together() -> None:
    """A stream of calls, each arriving after the last batch ended: with a gap, those within it
    share the next batch; a call after a quiet gap is handled at once."""
    batches: list[list[int]] = []

    async def handle(items: list[int]) -> list[int]:
        batches.append(items)
        return items

    echo = Coalescer(handle, gap=0.05)
    assert await echo(1) == 1  # handled at once: nothing before it
    assert batches == [[1]]
    loop = asyncio.get_running_loop()
    asked = loop.time()
    assert await asyncio.gather(echo(2), echo(3)) == [2, 3]  # within the gap: they wait for it
    assert loop.time() - asked >= 0.04
    assert batches == [[1], [2, 3]]
    await asyncio.sleep(0.06)  # a quiet gap
    asked = loop.time()
    assert await echo(4) == 4
    assert loop.time() - asked < 0.04
    assert batches == [[1], [2, 3], [4]]
