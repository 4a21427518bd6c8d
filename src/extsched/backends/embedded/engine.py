"""The embedded backend's moving parts in one process: dispatcher, worker pool, sync retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from extsched.backends.embedded.dispatcher import Dispatcher
from extsched.backends.embedded.job_runner import EmbeddedJobRunner
from extsched.backends.embedded.worker import LEASE_MARGIN, Worker
from extsched.backends.ports import RunPort
from extsched.clock import Clock
from extsched.loops import Supervisor
from extsched.store.db import Database

log = logging.getLogger(__name__)


class EmbeddedEngine:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        backend: EmbeddedJobRunner,
        port: RunPort,
        *,
        catchup_window: timedelta,
        call_timeout: timedelta,
        concurrency: int = 256,
        owner: str | None = None,
    ) -> None:
        self.backend = backend
        self.worker = Worker(
            port,
            clock,
            lease_ttl=call_timeout + LEASE_MARGIN,
            owner=owner,
            concurrency=concurrency,
        )
        self.dispatcher = Dispatcher(
            db,
            clock,
            backend,
            port,
            catchup_window=catchup_window,
            on_queued=self.worker.wake.set,
        )
        # A run-now wakes the worker through the backend's event.
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def tick(self) -> int:
        """One dispatcher pass and one worker pass; for tests that move an injected clock."""
        await self.dispatcher.dispatch_due()
        return await self.worker.run_once()

    def start(self, loops: Supervisor) -> None:
        self._stop.clear()
        self._tasks = [
            loops.start("dispatcher", lambda: self.dispatcher.run(self._stop)),
            loops.start("worker", lambda: self.worker.run(self._stop)),
            loops.start("triggers", self._forward_triggers),
        ]

    async def _forward_triggers(self) -> None:
        while not self._stop.is_set():
            await self.backend.runs_waiting.wait()
            self.backend.runs_waiting.clear()
            self.worker.wake.set()

    async def stop(self) -> None:
        self._stop.set()
        self.backend.runs_waiting.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
