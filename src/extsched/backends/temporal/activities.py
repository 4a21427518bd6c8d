"""The activities Temporal workflows call: each one step of the run pipeline (``RunPort``).

They run in the extsched worker process, with the database at hand; a workflow never touches it.
A fire's activity records the occurrence and starts its run in one transaction, then calls the
Runner and writes the outcome. In a burst hundreds of them run at once: their database work goes
through ``Coalescer``s, so the fires begun and the outcomes written meanwhile share transactions,
as the embedded workers' batches do. The worker process is the lease owner of the runs it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from temporalio import activity

from extsched.backends.ports import Fire, RunKey, RunPort, Started
from extsched.backends.temporal.workflows import (
    ATTEMPT,
    FIRE,
    HEARTBEAT,
    RECORD,
    Fired,
    Later,
    Recorded,
    RunJob,
)
from extsched.batching import Coalescer
from extsched.clock import Clock
from extsched.domain.runs import Outcome, crashed

# In a burst Temporal hands out fires at a few dozen a second, each alone if taken at once: a
# tenth of a second between batches makes each transaction serve several (bench/RESULTS.md).
BATCH_GAP = 0.1
# What a run's attempt begins with: the run started, when to look at it again, or None (ended).
Begun = Started | datetime | None


@dataclass(frozen=True)
class Limits:
    call_timeout: timedelta
    lease_ttl: timedelta
    catchup_window: timedelta


class Activities:
    def __init__(self, port: RunPort, clock: Clock, limits: Limits) -> None:
        self.port = port
        self.clock = clock
        self.limits = limits
        self.owner = f"temporal:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._record = Coalescer(self._record_fires)
        self._fire = Coalescer(self._begin_fires, gap=BATCH_GAP)
        self._begin = Coalescer(self._begin_runs, gap=BATCH_GAP)
        self._settle = Coalescer(self._settle_outcomes, gap=BATCH_GAP)

    def job(self, key: RunKey) -> RunJob:
        return RunJob(
            key[0],
            key[1],
            self.limits.call_timeout.total_seconds(),
            self.limits.lease_ttl.total_seconds(),
        )

    @activity.defn(name=RECORD)
    async def record(self, fired: Fired) -> Recorded:
        t = fired.target
        key = await self._record(
            Fire(t.tenant_id, t.schedule_id, datetime.fromisoformat(fired.scheduled_for))
        )
        return Recorded(self.job(key) if key is not None else None)

    @activity.defn(name=FIRE)
    async def fire(self, fired: Fired) -> Recorded:
        """The fire recorded and its run's first attempt made; the run to go on with in its own
        workflow (to retry, or held elsewhere), or None."""
        t = fired.target
        async with heartbeating():
            begun = await self._fire(
                Fire(t.tenant_id, t.schedule_id, datetime.fromisoformat(fired.scheduled_for))
            )
            if begun is None:
                return Recorded(None)
            if isinstance(begun, Started):
                key = (begun.ctx.run.tenant_id, begun.ctx.run.id)
                at = await self._run(begun)
            else:
                key = begun
                at = await self._pending(key, self.clock.now())
        if at is None:
            return Recorded(None)
        return Recorded(replace(self.job(key), resume=Later(at.isoformat())))

    @activity.defn(name=ATTEMPT)
    async def attempt(self, job: RunJob, lost: bool) -> str | None:
        """One attempt of the run; when to look at it again (RFC 3339), or None: it ended.

        ``lost``: an earlier try of this activity died, leaving the run running under its lease;
        once the lease is over it is taken back here (the lost attempt recorded as abandoned)
        and retried."""
        begun = await self._begin(((job.tenant_id, job.run_id), lost))
        at = await self._run(begun) if isinstance(begun, Started) else begun
        return at.isoformat() if at is not None else None

    async def _run(self, begun: Started) -> datetime | None:
        """Execute a started run and write its outcome; when it is to be retried, if it is."""
        if begun.overlap:
            outcome = Outcome(begun.ctx.run, "skipped", skip_reason="overlap")
        else:
            try:
                outcome = await self.port.execute(begun.ctx)
            except Exception as exc:  # a bug must not leave the run running
                outcome = crashed(begun.ctx.run, f"internal error: {exc}", self.clock.now())
        await self._settle(outcome)
        return outcome.retry_at

    async def _pending(self, key: RunKey, now: datetime) -> datetime | None:
        """When to look again at a run not begun here; None: it ended. A run whose lease ran out
        (its worker went away) is taken back now: it is retried, or it ended."""
        pending = await self.port.pending_at(key)
        if pending is not None and pending <= now:
            if await self.port.take_back(now, 100, set(), self.limits.lease_ttl):
                pending = await self.port.pending_at(key)
            if pending is not None and pending <= now:  # held by a lease that is still live
                pending = now + timedelta(seconds=1)
        return pending

    async def _record_fires(self, fires: list[Fire]) -> list[RunKey | None]:
        return await self.port.record_fired(fires, self.clock.now(), self.limits.catchup_window)

    async def _begin_fires(self, fires: list[Fire]) -> list[Started | RunKey | None]:
        now = self.clock.now()
        return await self.port.begin_fired(
            self.owner, fires, now, self.limits.catchup_window, now + self.limits.lease_ttl
        )

    async def _begin_runs(self, asked: list[tuple[RunKey, bool]]) -> list[Begun]:
        now = self.clock.now()
        lease_until = now + self.limits.lease_ttl
        if any(lost for _, lost in asked):
            await self.port.take_back(now, 100, set(), self.limits.lease_ttl)
        keys = list(dict.fromkeys(key for key, _ in asked))
        leased = await self.port.lease(self.owner, now, now, lease_until, len(keys), keys=keys)
        started = await self.port.start(
            self.owner, await self.port.prepare(leased), now, lease_until
        )
        by_key = {(s.ctx.run.tenant_id, s.ctx.run.id): s for s in started}
        leased_keys = {(r.tenant_id, r.id) for r in leased}
        begun: list[Begun] = []
        answered: set[RunKey] = set()
        for key, _ in asked:
            first = key not in answered
            answered.add(key)
            if first and key in by_key:
                begun.append(by_key[key])
            elif first and key in leased_keys:
                begun.append(None)  # cancelled since it was leased
            else:  # not due yet, held (also by a twin asked at once), or ended
                begun.append(await self._pending(key, now))
        return begun

    async def _settle_outcomes(self, outcomes: list[Outcome]) -> list[None]:
        await self.port.settle(self.owner, outcomes)
        return [None] * len(outcomes)


@contextlib.asynccontextmanager
async def heartbeating(every: float = HEARTBEAT.total_seconds() / 3) -> AsyncIterator[None]:
    """Heartbeats every ``every`` seconds while the activity lasts, so Temporal notices a worker
    that went away within ``HEARTBEAT``; a fire quicker than ``every`` sends none."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
