"""Background loops: each survives its errors, reports them without flooding the log, and is
restarted if it ever ends by one.

A loop catches the errors of each pass itself (a database outage fails every pass until it ends);
``Failures`` logs the first with its traceback and then one summary a minute until a pass works
again. An error that escapes a loop anyway (a bug) ends its task: the ``Supervisor`` logs it,
reports the loop as down (``/readyz``), counts the restart and starts the loop again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from extsched.metrics import Metrics

log = logging.getLogger(__name__)

SUMMARY_EVERY = 60.0
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0


class Failures:
    """The failures of one loop's passes, logged: the first with its traceback, then a summary
    at most every ``summary_every`` seconds, and one line when a pass works again."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        summary_every: float = SUMMARY_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = logger
        self.what = what
        self.summary_every = summary_every
        self.monotonic = monotonic
        self.count = 0  # failures in a row
        self.unreported = 0
        self.reported_at = 0.0

    def failed(self, exc: BaseException) -> None:
        self.count += 1
        now = self.monotonic()
        if self.count == 1:
            self.log.error("%s failed", self.what, exc_info=exc)
            self.reported_at = now
        elif now - self.reported_at >= self.summary_every:
            self.log.error(
                "%s still failing: %d failures in a row; latest: %s: %s",
                self.what,
                self.count,
                type(exc).__name__,
                exc,
            )
            self.reported_at = now

    def succeeded(self) -> None:
        if self.count:
            self.log.warning("%s works again after %d failures", self.what, self.count)
            self.count = 0


class Supervisor:
    """Runs named loops; restarts one that ends by an error, after a growing delay."""

    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        first_delay: float = RESTART_FIRST_DELAY,
        max_delay: float = RESTART_MAX_DELAY,
    ) -> None:
        self.metrics = metrics
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.down: dict[str, str] = {}  # loops waiting to be restarted, and why
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, loop: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._keep(name, loop), name=f"extsched-{name}")
        self.tasks[name] = task
        return task

    async def _keep(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        delay = self.first_delay
        while True:
            try:
                await loop()
                return  # ended as asked (its stop was set)
            except Exception as exc:
                self.down[name] = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("the %s loop ended by an error; restarting in %.0f s", name, delay)
                if self.metrics is not None:
                    self.metrics.loop_restarts.labels(loop=name).inc()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)
            self.down.pop(name, None)

    async def stop(self) -> None:
        """Cancel every loop still running (those with a stop event should be stopped first)."""
        tasks, self.tasks = list(self.tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
