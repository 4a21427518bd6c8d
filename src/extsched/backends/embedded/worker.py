"""The worker pool: leases queued runs, starts them on time, executes them, writes outcomes.

A run is leased (owner + expiry) up to ``lead`` before it is due and prepared then (its context
and Runner request), so when thousands come due at one instant the worker only has to start them
and make the calls. What a run does is the run pipeline's (``backends.ports.RunPort``); this
decides only when, how many at once, and in which batches.

A running run's lease is renewed while the call lasts. A worker that dies leaves its leases to
expire: a leased queued run is simply free again; a running one is taken back, the lost attempt
recorded, and retried. Outcomes are written only while the lease is still ours, so a run completes
once; an outcome that could not be written (the database away) is kept, its lease renewed, and
written when the database is back.
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
from datetime import datetime, timedelta

from extsched.backends.embedded.waiting import wait_any
from extsched.backends.ports import Prepared, RunKey, RunPort
from extsched.clock import Clock
from extsched.domain.records import Run
from extsched.domain.runs import Outcome, RunContext, crashed
from extsched.loops import Failures

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(seconds=30)
LEAD = timedelta(seconds=10)  # how long before it is due a run is leased and prepared
MAX_IDLE_SLEEP = 1.0
REAP_EVERY = 1.0  # seconds between looks for expired leases
FLUSH_GATHER = 0.05  # seconds of completions gathered into one outcome transaction
FLUSH_DEFER = 1.0
FLUSH_RETRY_FIRST = 0.5  # seconds before writing outcomes is tried again after a failure
FLUSH_RETRY_MAX = 5.0


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        port: RunPort,
        clock: Clock,
        *,
        lease_ttl: timedelta,
        owner: str | None = None,
        concurrency: int = 256,
        lead: timedelta = LEAD,
    ) -> None:
        self.port = port
        self.clock = clock
        self.owner = owner or default_owner()
        self.concurrency = concurrency
        # What a worker takes is in proportion to what it can call: workers of a fleet share a
        # burst by their capacity, and a small worker does not hold runs a big one could start.
        self.batch_size = min(500, 2 * concurrency)
        self.prepare_limit = 60 * concurrency
        self.lease_ttl = lease_ttl
        self.lead = lead
        # Started runs waiting for a free call slot: bounded, so a started run calls soon.
        self.backlog = 4 * concurrency
        self.wake = asyncio.Event()
        self._prepared: dict[RunKey, Prepared] = {}
        self._due: list[tuple[datetime, RunKey]] = []  # heap over _prepared by start time
        # Started runs until their outcome is written (what the lease renewal keeps alive).
        self._started: dict[RunKey, RunContext] = {}
        self._ready: collections.deque[RunContext] = collections.deque()  # started, not called
        self._callers: set[asyncio.Task[None]] = set()
        self._pending = 0  # started runs without an outcome yet
        self._settled = asyncio.Event()
        self._settled.set()
        self._results: list[Outcome] = []
        self._results_ready = asyncio.Event()
        self._writing: asyncio.Future[int] | None = None

    # One pass, for tests and the loop -----------------------------------------------------------

    async def reap_expired(self, now: datetime | None = None) -> int:
        """Take back runs whose worker vanished. Not this worker's own started runs: their
        answers are in hand, waiting to be written (their leases may have run out while the
        database was away)."""
        return await self.port.take_back(
            now or self.clock.now(), self.batch_size, set(self._started), self.lease_ttl
        )

    async def claim(
        self, now: datetime | None = None, horizon: datetime | None = None
    ) -> list[Run]:
        """Lease queued runs due by ``horizon`` (default: ``lead`` from now), up to the room left."""
        room = min(self.batch_size, self.prepare_limit - len(self._prepared) - len(self._started))
        if room <= 0:
            return []
        now = now or self.clock.now()
        horizon = horizon or now + self.lead
        # The lease covers the wait until the start; the call gets its own lease then.
        return await self.port.lease(
            self.owner, now, horizon, max(horizon, now) + LEASE_MARGIN, room
        )

    async def prepare(self, runs: list[Run], now: datetime | None = None) -> None:
        """Load what leased runs need to start, and queue them by their start time."""
        runs = [r for r in runs if (r.tenant_id, r.id) not in self._started]
        if not runs:
            return
        now = now or self.clock.now()
        for prepared in await self.port.prepare(runs):
            run = prepared.ctx.run
            key = (run.tenant_id, run.id)
            if key not in self._prepared:
                heapq.heappush(self._due, (run.next_attempt_at or now, key))
            self._prepared[key] = prepared

    @property
    def next_start(self) -> datetime | None:
        return self._due[0][0] if self._due else None

    async def start_due(self, now: datetime | None = None) -> int:
        """Start the prepared runs due by ``now``, as far as the backlog allows."""
        now = now or self.clock.now()
        started = 0
        while self._due:
            room = min(self.batch_size, self.backlog - self._pending)
            batch: list[Prepared] = []
            while self._due and self._due[0][0] <= now and len(batch) < room:
                _, key = heapq.heappop(self._due)
                batch.append(self._prepared.pop(key))
            if not batch:
                break
            started += await self._start(batch, now)
        return started

    async def _start(self, batch: list[Prepared], now: datetime) -> int:
        started = await self.port.start(self.owner, batch, now, now + self.lease_ttl)
        for s in started:
            ctx = s.ctx
            self._started[(ctx.run.tenant_id, ctx.run.id)] = ctx
            self._pending += 1
            self._settled.clear()
            if s.overlap:
                self._done(Outcome(ctx.run, "skipped", skip_reason="overlap"))
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
                outcome = await self.port.execute(ctx)
            except Exception as exc:  # a bug must not leave the run running forever
                log.exception("attempt crashed", extra={"run_id": ctx.run.id})
                outcome = crashed(ctx.run, f"internal error: {exc}", self.clock.now())
            self._done(outcome)

    def _done(self, outcome: Outcome) -> None:
        self._results.append(outcome)
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
            await self.port.settle(self.owner, batch)
        except BaseException:
            self._results[:0] = batch
            self._results_ready.set()
            raise
        for o in batch:
            self._started.pop((o.run.tenant_id, o.run.id), None)
        self.wake.set()
        return len(batch)

    async def renew_leases(self) -> None:
        await self.port.renew(self.owner, list(self._started), self.clock.now() + self.lease_ttl)

    async def run_once(self) -> int:
        """Execute everything due now and write it; returns how many runs were handled."""
        await self.reap_expired()
        handled = 0
        while True:
            now = self.clock.now()
            await self.prepare(await self.claim(now, horizon=now), now)
            if not await self.start_due(now):
                break
            await self.settled()
            handled += await self.flush()
        return handled

    # The loop ------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, drain_timeout: float = 30.0) -> None:
        """Work until ``stop``; then finish what is in flight (up to ``drain_timeout``) and give
        back the runs leased but not started."""
        flusher = asyncio.create_task(self._flush_loop())
        renewer = asyncio.create_task(self._renew_loop())
        failures = Failures(log, "worker pass")
        try:
            last_reap = 0.0
            loop = asyncio.get_running_loop()
            while not stop.is_set():
                self.wake.clear()
                now = self.clock.now()  # the one reading of this turn
                try:
                    if loop.time() - last_reap >= REAP_EVERY:
                        last_reap = loop.time()
                        await self.reap_expired(now)
                    # Starting what is due comes first; preparing what comes next fills the gaps.
                    if self._room_to_start(now):
                        await self.start_due(now)
                    runs = await self.claim(now)
                    await self.prepare(runs, now)
                    if len(runs) == self.batch_size:
                        continue
                    delay = self._idle_delay(now, await self.port.next_due(now + self.lead))
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

    def _room_to_start(self, now: datetime) -> bool:
        """Start in batches, not one run per freed slot: each start is a write transaction."""
        due = self.next_start
        if due is None or due > now:
            return False
        room = self.backlog - self._pending
        return room >= min(self.concurrency, len(self._prepared)) or not self._pending

    def _idle_delay(self, now: datetime, next_due: datetime | None) -> float:
        delay = MAX_IDLE_SLEEP
        start = self.next_start
        if start is not None and start <= now and not self._room_to_start(now):
            start = None  # due, but waiting for room: a flush wakes the loop
        for t in (start, next_due - self.lead if next_due else None):
            if t is not None:
                delay = min(delay, max(0.0, (t - now).total_seconds()))
        return delay

    async def release(self) -> None:
        self._prepared.clear()
        self._due.clear()
        try:
            await self.port.release(self.owner)
        except Exception:  # their leases expire on their own
            log.exception("giving back leased runs failed")

    async def _flush_loop(self) -> None:
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

    async def _renew_loop(self) -> None:
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
