"""Group commit for concurrent calls: what arrives while a batch is being handled goes together
in the next one.

A Temporal worker runs each fire's steps as activities of their own, hundreds at a time in a
burst; handled one by one, each would pay for its own transactions. Through a ``Coalescer`` they
share them, as the embedded workers' batches do, and a call that finds nothing in flight is
handled at once: batching adds no wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    def __init__(
        self, handle: Callable[[list[Item]], Awaitable[Sequence[Result]]], max_batch: int = 256
    ) -> None:
        """``handle`` takes a batch and returns one result per item, in order; when it raises,
        every call of the batch raises that."""
        self._handle = handle
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._handle_waiting())
        return await future

    async def _handle_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                results = await self._handle([item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled: so are the calls waiting on it
                for _, future in [*batch, *self._waiting]:
                    future.cancel()
                self._waiting.clear()
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
