"""The run pipeline: the service side of ``backends.ports.RunPort``.

Backends decide when; this decides what, by the rules of ``domain.runs``: which runs an occurrence
makes, what a run checks before it starts, what it tells the Runner, what its result becomes, and
what that changes. Each method owns its transaction, except ``record_occurrences``, which joins
the backend's (the run rows commit with the backend's own advance).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.backends.ports import Fire, Prepared, RunKey, Started
from extsched.clock import Clock
from extsched.domain import fires as fires_rules
from extsched.domain.records import Run
from extsched.domain.runs import (
    DueOccurrence,
    OccurrenceReport,
    Outcome,
    RunContext,
    abandoned,
    freshness_of,
    occurrence_key,
    occurrence_run,
    occurrence_runs,
)
from extsched.metrics import Metrics
from extsched.services.execution import Attempts
from extsched.services.settlement import Settlement
from extsched.store import run_contexts
from extsched.store.db import Database
from extsched.store.run_queue import RunQueue
from extsched.store.schedule_fleet import FireFacts, ScheduleFleet

log = logging.getLogger(__name__)
Answer = TypeVar("Answer")


class RunPipeline:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        attempts: Attempts,
        settlement: Settlement,
        metrics: Metrics,
    ) -> None:
        self.db = db
        self.clock = clock
        self.attempts = attempts
        self.settlement = settlement
        self.metrics = metrics

    async def record_occurrences(
        self, conn: AsyncConnection, items: Sequence[DueOccurrence], now: datetime
    ) -> OccurrenceReport:
        report, _ = await self._record_occurrences(conn, items, now)
        return report

    async def _record_occurrences(
        self, conn: AsyncConnection, items: Sequence[DueOccurrence], now: datetime
    ) -> tuple[OccurrenceReport, list[Run]]:
        """The report, and the runs inserted (those already there are not)."""
        report = OccurrenceReport()
        if not items:
            return report, []
        budgets = await ScheduleFleet(conn).max_attempts(
            [(i.tenant_id, i.schedule_id) for i in items]
        )
        queue = RunQueue(conn)
        # An occurrence recorded ahead of its time gets the overlap rule when it starts.
        busy = await queue.busy_schedules(
            {i.tenant_id for i in items}, {i.schedule_id for i in items if i.start_at is None}, now
        )
        runs: list[Run] = []
        for item in items:
            budget = budgets.get((item.tenant_id, item.schedule_id))
            if budget is not None:  # else deleted meanwhile; its backend entry goes too
                runs += occurrence_runs(item, budget, item.schedule_id in busy, now)
        inserted = await queue.insert_new(runs)
        for run in runs:
            if run.id not in inserted:
                report.duplicates += 1
            elif run.status == "queued":
                report.queued += 1
            elif run.status == "skipped":
                report.skipped += 1
            else:
                report.missed += 1
        if report.skipped:
            self.metrics.runs.labels(status="skipped", trigger="schedule").inc(report.skipped)
        if report.missed:
            self.metrics.runs.labels(status="missed", trigger="schedule").inc(report.missed)
        return report, [run for run in runs if run.id in inserted]

    async def cancel_ahead(
        self, conn: AsyncConnection, tenant_id: str, schedule_id: str, now: datetime
    ) -> int:
        return await RunQueue(conn).cancel_ahead(tenant_id, schedule_id, now)

    async def record_fired(
        self, fires: Sequence[Fire], now: datetime, catchup_window: timedelta
    ) -> list[RunKey | None]:
        async def record(conn: AsyncConnection, batch: Sequence[Fire]) -> list[RunKey | None]:
            runs, _ = await self._record_round(conn, batch, now, catchup_window)
            return runs

        return await self._in_rounds(fires, record)

    async def begin_fired(
        self,
        owner: str,
        fires: Sequence[Fire],
        now: datetime,
        catchup_window: timedelta,
        lease_until: datetime,
    ) -> list[Started | RunKey | None]:
        async def begin(
            conn: AsyncConnection, batch: Sequence[Fire]
        ) -> list[Started | RunKey | None]:
            keys, fresh = await self._record_round(conn, batch, now, catchup_window)
            queue = RunQueue(conn)
            runs = await queue.start_free(
                owner, list(dict.fromkeys(k for k in keys if k is not None)), now, lease_until
            )
            # A run recorded by this transaction passed the overlap rule as it was recorded.
            overlap = await queue.overlapping(
                [
                    r
                    for r in runs
                    if r.trigger == "schedule"
                    and r.attempt == 1
                    and (r.tenant_id, r.id) not in fresh
                ],
                now,
            )
            started = {
                (ctx.run.tenant_id, ctx.run.id): Started(
                    ctx, (ctx.run.tenant_id, ctx.run.id) in overlap
                )
                for ctx in await run_contexts.load(conn, runs)
            }
            return [started.pop(k, k) if k is not None else None for k in keys]

        return await self._in_rounds(fires, begin)

    async def _in_rounds(
        self,
        fires: Sequence[Fire],
        handle: Callable[[AsyncConnection, Sequence[Fire]], Awaitable[list[Answer]]],
    ) -> list[Answer]:
        """Fires handled in transactions of their own, one after the other, none with two fires of
        one schedule: those are judged in turn, each seeing the last one's records."""
        results: dict[int, Answer] = {}
        pending = list(enumerate(fires))
        while pending:
            seen: set[tuple[str, str]] = set()
            this_round: list[tuple[int, Fire]] = []
            later: list[tuple[int, Fire]] = []
            for i, fire in pending:
                key = (fire.tenant_id, fire.schedule_id)
                (later if key in seen else this_round).append((i, fire))
                seen.add(key)
            async with self.db.transaction() as conn:
                found = await handle(conn, [f for _, f in this_round])
            results.update(zip([i for i, _ in this_round], found, strict=True))
            pending = later
        return [results[i] for i in range(len(fires))]

    async def _record_round(
        self,
        conn: AsyncConnection,
        fires: Sequence[Fire],
        now: datetime,
        catchup_window: timedelta,
    ) -> tuple[list[RunKey | None], set[RunKey]]:
        """Each fire's run to execute (as ``record_fired``), and which of those were recorded
        just now, by this transaction (the others by an earlier delivery)."""
        queue = RunQueue(conn)
        facts = await ScheduleFleet(conn).fire_facts([(f.tenant_id, f.schedule_id) for f in fires])
        judged: list[fires_rules.FireJudgement | None] = []
        for fire in fires:
            known = facts.get((fire.tenant_id, fire.schedule_id))
            if known is None:
                judged.append(None)  # deleted meanwhile; its Temporal schedule goes too
                continue
            judgement = _judge(fire, known, now, catchup_window)
            if judgement.due.missed_count:  # passed over while a run was active, or while down?
                spans = await queue.active_spans(fire.tenant_id, fire.schedule_id, known.since)
                judgement = _judge(fire, known, now, catchup_window, spans)
            judged.append(judgement)
        _, inserted = await self._record_occurrences(
            conn, [j.due for j in judged if j is not None], now
        )
        for fire, j in zip(fires, judged, strict=True):
            if j is None:
                continue
            skipped = [(at, "overlap") for at in j.overlapped]
            if j.dst_duplicate:
                skipped.append((fire.scheduled_for, "dst_duplicate"))
            if skipped:
                await self._record_skipped(conn, j.due, skipped, now)
        # The unfinished run of each occurrence to run, also when an earlier delivery recorded it.
        to_run = {
            i: (j.due.tenant_id, occurrence_key(j.due.schedule_id, j.due.run_for))
            for i, j in enumerate(judged)
            if j is not None and not j.dst_duplicate and j.due.run_for is not None
        }
        found = {(r.tenant_id, r.idempotency_key): r.id for r in inserted if r.status == "queued"}
        fresh = {(tenant, run_id) for (tenant, _), run_id in found.items()}
        if any(key not in found for key in to_run.values()):
            found |= await queue.unfinished_by_keys([k for k in to_run.values() if k not in found])
        runs: list[RunKey | None] = []
        for i in range(len(fires)):
            run_id = found.get(to_run[i]) if i in to_run else None
            runs.append((to_run[i][0], run_id) if run_id is not None else None)
        return runs, fresh

    async def _record_skipped(
        self,
        conn: AsyncConnection,
        due: DueOccurrence,
        occurrences: Sequence[tuple[datetime, str]],
        now: datetime,
    ) -> None:
        """Fired occurrences that do not run, each a ``skipped`` run with its reason."""
        key = (due.tenant_id, due.schedule_id)
        budget = (await ScheduleFleet(conn).max_attempts([key])).get(key, 1)
        runs = [
            occurrence_run(due, at, "skipped", budget, now, skip_reason=reason)
            for at, reason in occurrences
        ]
        inserted = await RunQueue(conn).insert_new(runs)
        if inserted:
            self.metrics.runs.labels(status="skipped", trigger="schedule").inc(len(inserted))

    async def lease(
        self,
        owner: str,
        now: datetime,
        horizon: datetime,
        lease_until: datetime,
        limit: int,
        keys: Sequence[RunKey] | None = None,
    ) -> list[Run]:
        async with self.db.transaction() as conn:
            return await RunQueue(conn).lease(
                owner=owner,
                now=now,
                horizon=horizon,
                lease_until=lease_until,
                limit=limit,
                keys=keys,
            )

    async def pending_at(self, key: RunKey) -> datetime | None:
        async with self.db.connect() as conn:
            return await RunQueue(conn).pending_at(key)

    async def prepare(self, runs: Sequence[Run]) -> list[Prepared]:
        async with self.db.connect() as conn:
            contexts = await run_contexts.load(conn, runs)
        prepared = []
        for ctx in contexts:
            self.attempts.prepare_request(ctx)
            prepared.append(Prepared(ctx, freshness_of(ctx)))
        return prepared

    async def start(
        self, owner: str, batch: Sequence[Prepared], now: datetime, lease_until: datetime
    ) -> list[Started]:
        keys = [(p.ctx.run.tenant_id, p.ctx.run.id) for p in batch]
        async with self.db.transaction() as conn:
            current = await run_contexts.freshness(conn, [p.ctx.run for p in batch])
            stale = [p for p, k in zip(batch, keys, strict=True) if current[k] != p.freshness]
            if stale:  # changed since prepared: the run-time checks need the current state
                fresh = await run_contexts.load(conn, [p.ctx.run for p in stale])
                for p, ctx in zip(stale, fresh, strict=True):
                    p.ctx = ctx
            first = [
                p.ctx.run
                for p in batch
                if p.ctx.run.trigger == "schedule" and p.ctx.run.attempt == 0
            ]
            queue = RunQueue(conn)
            overlap = await queue.overlapping(first, now)
            started = await queue.start(owner, keys, now, lease_until)
        result = []
        for p, key in zip(batch, keys, strict=True):
            if key not in started:
                continue  # cancelled, or taken over by another worker, since it was leased
            attempt, started_at = started[key]
            ctx = p.ctx
            ctx.run = ctx.run.changed(status="running", attempt=attempt, started_at=started_at)
            result.append(Started(ctx, key in overlap))
        return result

    async def execute(self, ctx: RunContext) -> Outcome:
        return await self.attempts.run(ctx)

    async def settle(self, owner: str, outcomes: Sequence[Outcome]) -> int:
        if not outcomes:
            return 0
        now = self.clock.now()
        async with self.db.transaction() as conn:
            written = await self.settlement.write(conn, outcomes, owner, now)
        self.settlement.count(written)
        return len(written)

    async def renew(self, owner: str, keys: Sequence[RunKey], until: datetime) -> None:
        if keys:
            async with self.db.transaction() as conn:
                await RunQueue(conn).renew(owner, keys, until)

    async def release(self, owner: str) -> None:
        async with self.db.transaction() as conn:
            await RunQueue(conn).release(owner)

    async def take_back(
        self, now: datetime, limit: int, keep: set[RunKey], lease_ttl: timedelta
    ) -> int:
        async with self.db.connect() as conn:  # a cheap look first: a write lock only when needed
            if not await RunQueue(conn).any_expired(now):
                return 0
        async with self.db.transaction() as conn:
            queue = RunQueue(conn)
            expired = [
                r for r in await queue.expired(now, limit) if (r.tenant_id, r.id) not in keep
            ]
            lost = []
            for run in expired:
                assert run.lease_expires_at is not None
                began = run.lease_expires_at - lease_ttl  # when its lease was last set, at most
                if run.attempt == 1 and run.started_at is not None:
                    began = run.started_at
                lost.append(abandoned(run, began, now))
                log.warning(
                    "lease expired; run taken back",
                    extra={
                        "tenant_id": run.tenant_id,
                        "schedule_id": run.schedule_id,
                        "run_id": run.id,
                        "lost_owner": run.lease_owner,
                    },
                )
            written = await self.settlement.write(conn, lost, None, now)
        self.settlement.count(written)
        return len(written)

    async def next_due(self, after: datetime) -> datetime | None:
        async with self.db.connect() as conn:
            return await RunQueue(conn).next_due(after)


def _judge(
    fire: Fire,
    facts: FireFacts,
    now: datetime,
    window: timedelta,
    busy: Sequence[fires_rules.Span] = (),
) -> fires_rules.FireJudgement:
    return fires_rules.judge(
        tenant_id=fire.tenant_id,
        install_id=facts.install_id,
        schedule_id=fire.schedule_id,
        cron=facts.cron,
        timezone=facts.timezone,
        fired_for=fire.scheduled_for,
        since=facts.since,
        last_recorded=facts.last_recorded,
        now=now,
        window=window,
        busy=busy,
    )
