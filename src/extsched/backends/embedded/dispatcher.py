"""The dispatcher: claims schedules whose fire time has come and turns occurrences into runs.

Claiming is ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several processes share a burst without
overlap; on SQLite the single writer plus a compare-and-set on ``next_fire_for`` does the same.
The run rows and the schedule's advance commit together, and a run's unique occurrence key makes a
repeated delivery harmless.

Occurrences are dispatched up to ``lead`` ahead of their fire time: the run row is created queued
with ``next_attempt_at`` at the fire time, so a burst of thousands of schedules due at one instant
has its database work done before the instant and the worker only has to start the calls. The
run-time checks and the overlap rule are applied when the run starts, not here; a schedule change
in the meantime cancels the early run (``EmbeddedJobRunner.ensure_in``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from extsched.backends.embedded.job_runner import EmbeddedJobRunner
from extsched.backends.embedded.timing import plan
from extsched.backends.embedded.waiting import wait_any
from extsched.backends.ports import RunPort
from extsched.clock import Clock
from extsched.domain.runs import DueOccurrence, OccurrenceReport
from extsched.loops import Failures
from extsched.store.db import Database
from extsched.store.tables import embedded_schedule as emb_t
from extsched.store.types import UtcDateTime

log = logging.getLogger(__name__)

MAX_IDLE_SLEEP = 5.0  # other processes' changes are seen within this, even without a wake-up
LEAD = timedelta(seconds=10)  # how far ahead of its fire time an occurrence gets its run row


@dataclass
class DispatchReport(OccurrenceReport):
    schedules: int = 0


class _Raced(Exception):
    """Another dispatcher advanced a schedule of this batch first."""


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        backend: EmbeddedJobRunner,
        port: RunPort,
        *,
        catchup_window: timedelta = timedelta(minutes=10),
        batch_size: int = 1000,
        lead: timedelta = LEAD,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.backend = backend
        self.port = port
        self.window = catchup_window
        self.batch_size = batch_size
        self.lead = lead
        self.on_queued = on_queued

    async def dispatch_due(self, now: datetime | None = None) -> DispatchReport:
        """One pass: every schedule due at ``now`` gets its runs. Returns what was created."""
        now = now or self.clock.now()
        total = DispatchReport()
        while True:
            try:
                found, report = await self._batch(now)
            except _Raced:
                continue
            total.schedules += found
            total.add(report)
            if report.queued and self.on_queued:
                self.on_queued()
            if found < self.batch_size:
                break
        return total

    async def _batch(self, now: datetime) -> tuple[int, OccurrenceReport]:
        async with self.db.transaction() as conn:
            q = (
                emb_t.select()
                .where(emb_t.c.paused.is_(False), emb_t.c.fire_at <= now + self.lead)
                .order_by(emb_t.c.fire_at)
                .limit(self.batch_size)
            )
            if self.db.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = (await conn.execute(q)).all()
            if not rows:
                return 0, OccurrenceReport()
            items: list[DueOccurrence] = []
            advances = []
            for row in rows:
                early = row.fire_at > now  # dispatched ahead: planned as of its own fire time
                p = plan(
                    schedule_id=row.schedule_id,
                    cron=row.cron,
                    timezone=row.timezone,
                    jitter_seconds=row.jitter_seconds,
                    first_due=row.next_fire_for,
                    now=row.fire_at if early else now,
                    window=self.window,
                )
                items.append(
                    DueOccurrence(
                        tenant_id=row.tenant_id,
                        install_id=row.install_id,
                        schedule_id=row.schedule_id,
                        run_for=p.run_for,
                        missed_first=p.missed_first,
                        missed_last=p.missed_last,
                        missed_count=p.missed_count,
                        missed_capped=p.missed_capped,
                        start_at=row.fire_at if early else None,
                    )
                )
                advances.append(
                    {
                        "b_tenant": row.tenant_id,
                        "b_schedule": row.schedule_id,
                        "b_old": row.next_fire_for,
                        "b_next": p.next_for,
                        "b_fire": p.next_fire_at,
                        "b_last": p.last_fired_for,
                    }
                )
            result = await conn.execute(
                emb_t.update()
                .where(
                    emb_t.c.tenant_id == sa.bindparam("b_tenant"),
                    emb_t.c.schedule_id == sa.bindparam("b_schedule"),
                    emb_t.c.next_fire_for == sa.bindparam("b_old"),
                )
                .values(
                    next_fire_for=sa.bindparam("b_next"),
                    fire_at=sa.bindparam("b_fire"),
                    last_fired_for=sa.bindparam("b_last"),
                ),
                advances,
            )
            if result.rowcount != len(advances):
                # Another dispatcher moved some of these on: drop the whole batch and look again.
                raise _Raced()
            report = await self.port.record_occurrences(conn, items, now)
        return len(rows), report

    async def next_fire_at(self) -> datetime | None:
        """The earliest fire time of a firing schedule (this backend's own table)."""
        async with self.db.connect() as conn:
            q = sa.select(sa.func.min(emb_t.c.fire_at, type_=UtcDateTime())).where(
                emb_t.c.paused.is_(False)
            )
            value: datetime | None = (await conn.execute(q)).scalar_one_or_none()
        return value

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set, sleeping until the next fire time or a change."""
        changed = self.backend.schedules_changed
        failures = Failures(log, "dispatch pass")
        while not stop.is_set():
            changed.clear()
            now = self.clock.now()  # the one reading of this turn
            try:
                await self.dispatch_due(now)
                nxt = await self.next_fire_at()
            except Exception as exc:  # keep dispatching; the pass is tried again
                failures.failed(exc)
                await wait_any(stop, changed, 1.0)
                continue
            failures.succeeded()
            delay = MAX_IDLE_SLEEP
            if nxt is not None:
                ahead = nxt - self.lead - now
                delay = min(delay, max(0.0, ahead.total_seconds()))
            await wait_any(stop, changed, delay)
