"""Group commit for concurrent calls: what arrives while a batch is being handled goes together
in the next one.

A Temporal worker runs each fire's steps as activities of their own, hundreds at a time in a
burst; handled one by one, each would pay for its own transactions. Through a ``Coalescer`` they
share them, as the embedded workers' batches do. A call that finds nothing in flight, and no
batch begun within the gap, is handled at once: a lone call does not wait for company.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    def __init__(
        self,
        handle: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        max_batch: int = 256,
        gap: float = 0.0,
    ) -> None:
        """``handle`` takes a batch and returns one result per item, in order; when it raises,
        every call of the batch raises that. Batches begin at least ``gap`` seconds apart: under a
        steady stream of calls, each slower than its batch, the calls of a gap gather into one
        batch instead of each paying for its own; a call after a quiet gap is handled at once."""
        self._handle = handle
        self._max_batch = max_batch
        self._gap = gap
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._handle_waiting())
        return await future

    async def _handle_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                began = loop.time()
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._handle_batch(batch)
                rest = began + self._gap - loop.time()
                if rest > 0:
                    await asyncio.sleep(rest)
        except BaseException:  # cancelled: so are the calls waiting on it
            for _, future in self._waiting:
                future.cancel()
            self._waiting.clear()
            raise

    async def _handle_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._handle([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
