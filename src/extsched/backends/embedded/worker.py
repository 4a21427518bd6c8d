"""The worker pool: claims queued runs under a lease, executes them, writes outcomes in batches.

A lease (owner + expiry, renewed while the call lasts) marks a run as in progress. A worker that
dies leaves its lease to expire; any worker then takes the run back, counting the lost attempt,
and retries it. Outcomes are written only while the lease is still ours, so a run completes once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from extsched.backends.embedded.waiting import wait_any
from extsched.clock import Clock
from extsched.domain.records import Run
from extsched.services.runs import Completion, RunExecutor, load_contexts, retry_delay
from extsched.store.db import Database
from extsched.store.run_repo import RunRepo
from extsched.store.tables import tenant_extension_schedule_run as run_t
from extsched.store.types import UtcDateTime

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(seconds=30)
MAX_IDLE_SLEEP = 1.0
REAP_EVERY = 1.0  # seconds between looks for expired leases


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        executor: RunExecutor,
        *,
        owner: str | None = None,
        concurrency: int = 256,
        batch_size: int = 500,
        lease_ttl: timedelta | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.executor = executor
        self.owner = owner or default_owner()
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.lease_ttl = lease_ttl or (timedelta(milliseconds=executor.timeout_ms) + LEASE_MARGIN)
        self.wake = asyncio.Event()
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._results: list[Completion] = []
        self._results_ready = asyncio.Event()
        self._writing: asyncio.Future[int] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    # One pass, for tests and the loop -----------------------------------------------------------

    async def reap_expired(self) -> int:
        """Take back runs whose worker vanished: the lost attempt counts, then retry or give up."""
        now = self.clock.now()
        finals: list[Completion] = []
        async with self.db.connect() as conn:  # a cheap look first: a write lock only when needed
            if not await RunRepo(conn).any_expired(now):
                return 0
        async with self.db.transaction() as conn:
            expired = await RunRepo(conn).expired_leases(now, self.batch_size)
            for run in expired:
                exhausted = run.attempt >= run.max_attempts
                values: dict[str, Any] = {
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "error": "the worker running this attempt stopped before it finished",
                }
                if exhausted:
                    values.update(status="error", finished_at=now)
                    finals.append(Completion(run, "error", error=values["error"], finished_at=now))
                else:
                    values.update(status="queued", next_attempt_at=now + retry_delay(run.attempt))
                await conn.execute(
                    run_t.update()
                    .where(
                        run_t.c.tenant_id == run.tenant_id,
                        run_t.c.id == run.id,
                        run_t.c.status == "running",
                        run_t.c.lease_owner == run.lease_owner,
                    )
                    .values(**values)
                )
                log.warning(
                    "lease expired; run taken back",
                    extra={
                        "tenant_id": run.tenant_id,
                        "schedule_id": run.schedule_id,
                        "run_id": run.id,
                        "lost_owner": run.lease_owner,
                    },
                )
            # Exhausted runs still update their schedule's last-run fields and counters.
            await self.executor.settle(conn, finals, now)
        self.executor.count(finals)
        return len(expired)

    async def claim(self) -> list[Run]:
        free = self.concurrency - len(self._tasks)
        if free <= 0:
            return []
        now = self.clock.now()
        async with self.db.transaction() as conn:
            return await RunRepo(conn).claim(
                owner=self.owner,
                now=now,
                lease_until=now + self.lease_ttl,
                limit=min(free, self.batch_size),
            )

    async def start_claimed(self, runs: list[Run]) -> None:
        if not runs:
            return
        async with self.db.connect() as conn:
            contexts = await load_contexts(conn, runs)
        for ctx in contexts:
            key = (ctx.run.tenant_id, ctx.run.id)
            self._tasks[key] = asyncio.create_task(self._execute(ctx), name=f"run:{ctx.run.id}")

    async def _execute(self, ctx: Any) -> None:
        try:
            completion = await self.executor.attempt(ctx)
        except Exception as exc:  # a bug must not leave the run running forever
            log.exception("attempt crashed", extra={"run_id": ctx.run.id})
            completion = Completion(ctx.run, "queued", error=f"internal error: {exc}")
            completion.next_attempt_at = self.clock.now() + retry_delay(ctx.run.attempt)
            if ctx.run.attempt >= ctx.run.max_attempts:
                completion.status, completion.next_attempt_at = "error", None
        self._results.append(completion)
        self._results_ready.set()

    async def flush(self) -> int:
        """Write the outcomes gathered so far; frees their slots."""
        batch, self._results = self._results, []
        self._results_ready.clear()
        if not batch:
            return 0
        try:
            await self.executor.complete(self.owner, batch)
        finally:
            for c in batch:
                self._tasks.pop((c.run.tenant_id, c.run.id), None)
            self.wake.set()
        return len(batch)

    async def renew_leases(self) -> None:
        if not self._tasks:
            return
        async with self.db.transaction() as conn:
            await RunRepo(conn).renew(
                self.owner, list(self._tasks), self.clock.now() + self.lease_ttl
            )

    async def run_once(self) -> int:
        """Execute everything due now and write it; returns how many runs were handled."""
        await self.reap_expired()
        handled = 0
        while True:
            runs = await self.claim()
            if not runs:
                break
            await self.start_claimed(runs)
            await asyncio.gather(*self._tasks.values())
            handled += await self.flush()
        return handled

    # The loop ------------------------------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        async with self.db.connect() as conn:
            q = sa.select(sa.func.min(run_t.c.next_attempt_at, type_=UtcDateTime())).where(
                run_t.c.status == "queued"
            )
            value: datetime | None = (await conn.execute(q)).scalar_one_or_none()
        return value

    async def run(self, stop: asyncio.Event, *, drain_timeout: float = 30.0) -> None:
        """Work until ``stop``; then finish what is in flight (up to ``drain_timeout``)."""
        flusher = asyncio.create_task(self._flush_loop(stop))
        renewer = asyncio.create_task(self._renew_loop(stop))
        try:
            last_reap = 0.0
            loop = asyncio.get_running_loop()
            while not stop.is_set():
                self.wake.clear()
                try:
                    if loop.time() - last_reap >= REAP_EVERY:
                        last_reap = loop.time()
                        await self.reap_expired()
                    runs = await self.claim()
                    await self.start_claimed(runs)
                    if runs and len(self._tasks) < self.concurrency:
                        continue
                    delay = MAX_IDLE_SLEEP
                    nxt = await self.next_due()
                    if nxt is not None and len(self._tasks) < self.concurrency:
                        delay = min(delay, max(0.0, (nxt - self.clock.now()).total_seconds()))
                except Exception:
                    log.exception("worker pass failed")
                    delay = MAX_IDLE_SLEEP
                await wait_any(stop, self.wake, delay)
        finally:
            if self._tasks:
                await asyncio.wait(list(self._tasks.values()), timeout=drain_timeout)
            for t in (flusher, renewer):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            # A write the flusher had started goes on under its shield: rolling it back would
            # leave those runs to be executed again. Wait for it, then write what is left.
            if self._writing is not None:
                with contextlib.suppress(Exception):
                    await self._writing
            await self.flush()

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while True:
            await self._results_ready.wait()
            await asyncio.sleep(0.01)  # gather a burst of completions into one transaction
            self._writing = asyncio.ensure_future(self.flush())
            try:
                await asyncio.shield(self._writing)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing run outcomes failed; leases will expire and retry them")

    async def _renew_loop(self, stop: asyncio.Event) -> None:
        period = max(1.0, self.lease_ttl.total_seconds() / 3)
        while True:
            await asyncio.sleep(period)
            try:
                await self.renew_leases()
            except Exception:
                log.exception("lease renewal failed")
