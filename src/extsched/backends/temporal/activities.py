"""The activities Temporal workflows call: each one step of the run pipeline (``RunPort``).

They run in the extsched worker process, with the database at hand; a workflow never touches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import activity

from extsched.backends.ports import RunPort
from extsched.backends.temporal.workflows import ATTEMPT, RECORD, Fired, Recorded, RunJob
from extsched.clock import Clock
from extsched.domain.runs import Outcome, crashed


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

    def job(self, tenant_id: str, run_id: str) -> RunJob:
        return RunJob(
            tenant_id,
            run_id,
            self.limits.call_timeout.total_seconds(),
            self.limits.lease_ttl.total_seconds(),
        )

    @activity.defn(name=RECORD)
    async def record(self, fired: Fired) -> Recorded:
        t = fired.target
        key = await self.port.record_fired(
            t.tenant_id,
            t.schedule_id,
            datetime.fromisoformat(fired.scheduled_for),
            self.clock.now(),
            self.limits.catchup_window,
        )
        return Recorded(self.job(*key) if key is not None else None)

    @activity.defn(name=ATTEMPT)
    async def attempt(self, job: RunJob, lost: bool) -> str | None:
        """One attempt of the run; when to look at it again (RFC 3339), or None: it ended.

        ``lost``: an earlier try of this activity died, leaving the run running under its lease;
        once the lease is over it is taken back here (the lost attempt recorded as abandoned)
        and retried."""
        key = (job.tenant_id, job.run_id)
        owner = activity.info().workflow_id or job.run_id
        now = self.clock.now()
        if lost:
            await self.port.take_back(now, 100, set(), self.limits.lease_ttl)
        leased = await self.port.lease(owner, now, now, now + self.limits.lease_ttl, 1, keys=[key])
        if not leased:  # not due yet, held by a try whose lease is not over, or ended
            pending = await self.port.pending_at(key)
            if pending is not None and pending <= now:
                pending = now + timedelta(seconds=1)
            return _iso(pending)
        prepared = await self.port.prepare(leased)
        started = await self.port.start(owner, prepared, now, now + self.limits.lease_ttl)
        if not started:
            return None  # cancelled meanwhile
        [begun] = started
        if begun.overlap:
            outcome = Outcome(begun.ctx.run, "skipped", skip_reason="overlap")
        else:
            try:
                outcome = await self.port.execute(begun.ctx)
            except Exception as exc:  # a bug must not leave the run running
                outcome = crashed(begun.ctx.run, f"internal error: {exc}", self.clock.now())
        await self.port.settle(owner, [outcome])
        return _iso(outcome.retry_at)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
