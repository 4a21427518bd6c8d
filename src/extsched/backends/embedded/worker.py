"""The worker pool: leases queued runs, starts them on time, executes them, writes outcomes.

A run is leased (owner + expiry) up to ``lead`` before it is due and its context loaded then, so
when thousands come due at one instant the worker only has to start them and make the calls.
Starting is one conditional UPDATE per batch (still queued, still ours): a run cancelled or taken
over since it was leased does not start. Just before that, the run-time checks are brought up to
date — a run whose schedule, install or tenant changed since it was prepared gets its context
reloaded — and the overlap rule is applied.

A running run's lease is renewed while the call lasts. A worker that dies leaves its leases to
expire: a leased queued run is simply free again; a running one is taken back, the lost attempt
counted, and retried. Outcomes are written only while the lease is still ours, so a run completes
once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from extsched.backends.embedded.waiting import wait_any
from extsched.clock import Clock
from extsched.domain.records import Run
from extsched.loops import Failures
from extsched.services.runs import (
    Completion,
    Mark,
    RunContext,
    RunExecutor,
    current_marks,
    load_contexts,
    mark_of,
    retry_delay,
)
from extsched.store.db import Database
from extsched.store.run_repo import RunRepo
from extsched.store.tables import tenant_extension_schedule_run as run_t
from extsched.store.types import UtcDateTime

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(seconds=30)
LEAD = timedelta(seconds=10)  # how long before it is due a run is leased and prepared
MAX_IDLE_SLEEP = 1.0
REAP_EVERY = 1.0  # seconds between looks for expired leases
FLUSH_GATHER = 0.05  # seconds of completions gathered into one outcome transaction
FLUSH_DEFER = 1.0
FLUSH_RETRY_FIRST = 0.5  # seconds before writing outcomes is tried again after a failure
FLUSH_RETRY_MAX = 5.0

Key = tuple[str, str]  # (tenant_id, run_id)
ABANDONED = "the worker running this attempt stopped before it finished"


@dataclass
class _Prepared:
    ctx: RunContext
    mark: Mark


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
        lead: timedelta = LEAD,
        prepare_limit: int = 20_000,
    ) -> None:
        self.db = db
        self.clock = clock
        self.executor = executor
        self.owner = owner or default_owner()
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.lease_ttl = lease_ttl or (timedelta(milliseconds=executor.timeout_ms) + LEASE_MARGIN)
        self.lead = lead
        self.prepare_limit = prepare_limit
        # Started runs waiting for a free call slot: bounded, so a started run calls soon.
        self.backlog = 4 * concurrency
        self.wake = asyncio.Event()
        self._prepared: dict[Key, _Prepared] = {}
        self._due: list[tuple[datetime, Key]] = []  # heap over _prepared by start time
        # Started runs until their outcome is written (what the lease renewal keeps alive).
        self._started: dict[Key, RunContext] = {}
        self._ready: collections.deque[RunContext] = collections.deque()  # started, not called
        self._callers: set[asyncio.Task[None]] = set()
        self._pending = 0  # started runs without an outcome yet
        self._settled = asyncio.Event()
        self._settled.set()
        self._results: list[Completion] = []
        self._results_ready = asyncio.Event()
        self._writing: asyncio.Future[int] | None = None

    # One pass, for tests and the loop -----------------------------------------------------------

    async def reap_expired(self) -> int:
        """Take back runs whose worker vanished: the lost attempt counts, then retry or give up."""
        now = self.clock.now()
        finals: list[Completion] = []
        async with self.db.connect() as conn:  # a cheap look first: a write lock only when needed
            if not await RunRepo(conn).any_expired(now):
                return 0
        async with self.db.transaction() as conn:
            repo = RunRepo(conn)
            # Runs of this worker whose answer is in hand but not yet written (the database was
            # away and their leases ran out meanwhile) are not lost: their outcome is coming.
            expired = [
                run
                for run in await repo.expired_leases(now, self.batch_size)
                if run.lease_owner != self.owner or (run.tenant_id, run.id) not in self._started
            ]
            # Every attempt is recorded, a lost one too: as abandoned, ended when taken back.
            await repo.add_attempts([self._abandoned(run, now) for run in expired])
            for run in expired:
                exhausted = run.attempt >= run.max_attempts
                values: dict[str, Any] = {
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "error": ABANDONED,
                }
                if exhausted:
                    values.update(status="error", finished_at=now)
                    finals.append(Completion(run, "error", error=ABANDONED, finished_at=now))
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

    def _abandoned(self, run: Run, now: datetime) -> dict[str, Any]:
        """The attempt row of a run whose worker vanished. The attempt began at the latest when
        its lease was last set (a lease is set at start and on each renewal)."""
        assert run.lease_expires_at is not None
        began = run.lease_expires_at - self.lease_ttl
        if run.attempt == 1 and run.started_at is not None:
            began = run.started_at
        request_id = f"{run.id}.{run.attempt}"
        return {
            "tenant_id": run.tenant_id,
            "id": request_id,
            "run_id": run.id,
            "schedule_id": run.schedule_id,
            "attempt": run.attempt,
            "request_id": request_id,
            "started_at": began,
            "finished_at": now,
            "duration_ms": max(0, int((now - began).total_seconds() * 1000)),
            "outcome": "abandoned",
            "http_status": None,
            "error": ABANDONED,
        }

    async def claim(self, horizon: datetime | None = None) -> list[Run]:
        """Lease queued runs due by ``horizon`` (default: ``lead`` from now), up to the room left."""
        room = min(self.batch_size, self.prepare_limit - len(self._prepared) - len(self._started))
        if room <= 0:
            return []
        now = self.clock.now()
        horizon = horizon or now + self.lead
        async with self.db.transaction() as conn:
            return await RunRepo(conn).claim(
                owner=self.owner,
                now=now,
                horizon=horizon,
                lease_until=max(horizon, now) + LEASE_MARGIN,  # the call gets its own at start
                limit=room,
            )

    async def prepare(self, runs: list[Run]) -> None:
        """Load what leased runs need to start: their contexts, and the marks to check them by."""
        runs = [r for r in runs if (r.tenant_id, r.id) not in self._started]
        if not runs:
            return
        async with self.db.connect() as conn:
            contexts = await load_contexts(conn, runs)
        now = self.clock.now()
        for ctx in contexts:
            key = (ctx.run.tenant_id, ctx.run.id)
            start_at = ctx.run.next_attempt_at or now
            if key not in self._prepared:
                heapq.heappush(self._due, (start_at, key))
            self.executor.encode_ahead(ctx)
            self._prepared[key] = _Prepared(ctx, mark_of(ctx))

    @property
    def next_start(self) -> datetime | None:
        return self._due[0][0] if self._due else None

    async def start_due(self) -> int:
        """Start the prepared runs whose time has come, as far as the backlog allows."""
        started = 0
        while self._due:
            now = self.clock.now()
            room = min(self.batch_size, self.backlog - self._pending)
            batch: list[_Prepared] = []
            while self._due and self._due[0][0] <= now and len(batch) < room:
                _, key = heapq.heappop(self._due)
                batch.append(self._prepared.pop(key))
            if not batch:
                break
            started += await self._start(batch, now)
        return started

    async def _start(self, batch: list[_Prepared], now: datetime) -> int:
        keys = [(p.ctx.run.tenant_id, p.ctx.run.id) for p in batch]
        async with self.db.transaction() as conn:
            marks = await current_marks(conn, [p.ctx.run for p in batch])
            stale = [p for p, k in zip(batch, keys, strict=True) if marks[k] != p.mark]
            if stale:  # changed since prepared: the run-time checks need the current state
                fresh = await load_contexts(conn, [p.ctx.run for p in stale])
                for p, ctx in zip(stale, fresh, strict=True):
                    p.ctx = ctx
            first = [
                p.ctx.run
                for p in batch
                if p.ctx.run.trigger == "schedule" and p.ctx.run.attempt == 0
            ]
            repo = RunRepo(conn)
            overlap = await repo.overlapping(first, now)
            started = await repo.start(self.owner, keys, now, now + self.lease_ttl)
        for p, key in zip(batch, keys, strict=True):
            if key not in started:
                continue  # cancelled, or taken over by another worker, since it was leased
            attempt, started_at = started[key]
            ctx = p.ctx
            ctx.run = ctx.run.changed(status="running", attempt=attempt, started_at=started_at)
            self._started[key] = ctx
            self._pending += 1
            self._settled.clear()
            if key in overlap:
                self._done(Completion(ctx.run, "skipped", skip_reason="overlap"))
            else:
                self._ready.append(ctx)
        # Up to ``concurrency`` callers, each taking started runs until none is left.
        while self._ready and len(self._callers) < self.concurrency:
            task = asyncio.create_task(self._call_while_ready())
            self._callers.add(task)
            task.add_done_callback(self._callers.discard)
        return len(started)

    async def _call_while_ready(self) -> None:
        while self._ready:
            ctx = self._ready.popleft()
            try:
                completion = await self.executor.attempt(ctx)
            except Exception as exc:  # a bug must not leave the run running forever
                log.exception("attempt crashed", extra={"run_id": ctx.run.id})
                completion = Completion(ctx.run, "queued", error=f"internal error: {exc}")
                completion.next_attempt_at = self.clock.now() + retry_delay(ctx.run.attempt)
                if ctx.run.attempt >= ctx.run.max_attempts:
                    completion.status, completion.next_attempt_at = "error", None
            self._done(completion)

    def _done(self, completion: Completion) -> None:
        self._results.append(completion)
        self._results_ready.set()
        self._pending -= 1
        if not self._pending:
            self._settled.set()
        if self._pending == self.backlog - self.concurrency:
            self.wake.set()  # room for a batch: start it before the callers run dry

    async def settled(self) -> None:
        """Until every started run has its outcome (written or not)."""
        await self._settled.wait()

    async def flush(self) -> int:
        """Write the outcomes gathered so far; frees their slots. When the write fails the
        outcomes are kept (their leases still renewed) for the next try: a call that reached the
        Runner is recorded, not made again."""
        batch, self._results = self._results, []
        self._results_ready.clear()
        if not batch:
            return 0
        try:
            await self.executor.complete(self.owner, batch)
        except BaseException:
            self._results[:0] = batch
            self._results_ready.set()
            raise
        for c in batch:
            self._started.pop((c.run.tenant_id, c.run.id), None)
        self.wake.set()
        return len(batch)

    async def renew_leases(self) -> None:
        if not self._started:
            return
        async with self.db.transaction() as conn:
            await RunRepo(conn).renew(
                self.owner, list(self._started), self.clock.now() + self.lease_ttl
            )

    async def run_once(self) -> int:
        """Execute everything due now and write it; returns how many runs were handled."""
        await self.reap_expired()
        handled = 0
        while True:
            await self.prepare(await self.claim(self.clock.now()))
            if not await self.start_due():
                break
            await self.settled()
            handled += await self.flush()
        return handled

    # The loop ------------------------------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        """When the next queued run beyond the lead is due (sooner ones are claimed each pass)."""
        async with self.db.connect() as conn:
            q = sa.select(sa.func.min(run_t.c.next_attempt_at, type_=UtcDateTime())).where(
                run_t.c.status == "queued", run_t.c.next_attempt_at > self.clock.now() + self.lead
            )
            value: datetime | None = (await conn.execute(q)).scalar_one_or_none()
        return value

    async def run(self, stop: asyncio.Event, *, drain_timeout: float = 30.0) -> None:
        """Work until ``stop``; then finish what is in flight (up to ``drain_timeout``) and give
        back the runs leased but not started."""
        flusher = asyncio.create_task(self._flush_loop(stop))
        renewer = asyncio.create_task(self._renew_loop(stop))
        failures = Failures(log, "worker pass")
        try:
            last_reap = 0.0
            loop = asyncio.get_running_loop()
            while not stop.is_set():
                self.wake.clear()
                try:
                    if loop.time() - last_reap >= REAP_EVERY:
                        last_reap = loop.time()
                        await self.reap_expired()
                    # Starting what is due comes first; preparing what comes next fills the gaps.
                    if self._room_to_start():
                        await self.start_due()
                    runs = await self.claim()
                    await self.prepare(runs)
                    if len(runs) == self.batch_size:
                        continue
                    delay = self._idle_delay(await self.next_due())
                    failures.succeeded()
                except Exception as exc:
                    failures.failed(exc)
                    delay = MAX_IDLE_SLEEP
                await wait_any(stop, self.wake, delay)
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.settled(), drain_timeout)
            for t in (flusher, renewer):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            # A write the flusher had started goes on under its shield: rolling it back would
            # leave those runs to be executed again. Wait for it, then write what is left.
            if self._writing is not None:
                with contextlib.suppress(Exception):
                    await self._writing
            try:
                await self.flush()
            except Exception:  # their leases expire and the runs are taken back and retried
                log.exception("writing the last run outcomes failed while stopping")
            await self.release()

    def _room_to_start(self) -> bool:
        """Start in batches, not one run per freed slot: each start is a write transaction."""
        due = self.next_start
        if due is None or due > self.clock.now():
            return False
        room = self.backlog - self._pending
        return room >= min(self.concurrency, len(self._prepared)) or not self._pending

    def _idle_delay(self, next_due: datetime | None) -> float:
        now = self.clock.now()
        delay = MAX_IDLE_SLEEP
        start = self.next_start
        if start is not None and start <= now and not self._room_to_start():
            start = None  # due, but waiting for room: a flush wakes the loop
        for t in (start, next_due - self.lead if next_due else None):
            if t is not None:
                delay = min(delay, max(0.0, (t - now).total_seconds()))
        return delay

    async def release(self) -> None:
        self._prepared.clear()
        self._due.clear()
        try:
            async with self.db.transaction() as conn:
                await RunRepo(conn).release(self.owner)
        except Exception:  # their leases expire on their own
            log.exception("giving back leased runs failed")

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        failures = Failures(log, "writing run outcomes")
        retry = FLUSH_RETRY_FIRST
        while True:
            await self._results_ready.wait()
            await asyncio.sleep(FLUSH_GATHER)
            # While started runs wait for a caller the calls come first: outcomes are then
            # written less often, in bigger batches, for up to FLUSH_DEFER seconds.
            waited = FLUSH_GATHER
            while self._ready and waited < FLUSH_DEFER:
                await asyncio.sleep(FLUSH_GATHER)
                waited += FLUSH_GATHER
            self._writing = asyncio.ensure_future(self.flush())
            try:
                await asyncio.shield(self._writing)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # kept for the next try, until the database is back
                failures.failed(exc)
                await asyncio.sleep(retry)
                retry = min(retry * 2, FLUSH_RETRY_MAX)
            else:
                failures.succeeded()
                retry = FLUSH_RETRY_FIRST

    async def _renew_loop(self, stop: asyncio.Event) -> None:
        period = max(1.0, self.lease_ttl.total_seconds() / 3)
        failures = Failures(log, "lease renewal")
        while True:
            await asyncio.sleep(period)
            try:
                await self.renew_leases()
            except Exception as exc:
                failures.failed(exc)
            else:
                failures.succeeded()
