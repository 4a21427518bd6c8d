"""Runs (SPEC §7.2): turning occurrences into runs, executing attempts, recording outcomes.

Shared by every backend: the embedded dispatcher and workers call it directly, a Temporal
activity would call the same functions. No database transaction is open while the Runner is called.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.clock import Clock
from extsched.domain.install_config import install_config
from extsched.domain.invocation import AttemptResult, Invocation, iso_z
from extsched.domain.records import Endpoint, Install, Run, Schedule, Version
from extsched.ids import new_id
from extsched.metrics import Metrics
from extsched.runner_client import RunnerClient
from extsched.secret_box import SecretBox, SecretsUnreadable
from extsched.services.sync import SyncService
from extsched.store.db import Database
from extsched.store.install_repo import to_install
from extsched.store.registry_repo import to_endpoint, to_version
from extsched.store.run_repo import RunRepo
from extsched.store.schedule_repo import to_schedule
from extsched.store.tables import extension_api_endpoint as ep_t
from extsched.store.tables import extension_version as ver_t
from extsched.store.tables import tenant_extension_install as inst_t
from extsched.store.tables import tenant_extension_schedule as sched_t
from extsched.store.tables import tenant_settings as settings_t
from extsched.store.types import UtcDateTime

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 10
RETRY_CAP_SECONDS = 300
FINAL = ("success", "error", "timeout", "skipped", "missed")
# Run columns a per-row outcome write may set to NULL (the others keep their value when absent).
_NULLABLE = frozenset({"error", "http_status", "skip_reason", "next_attempt_at"})


def occurrence_key(schedule_id: str, scheduled_for: datetime) -> str:
    """The idempotency key of a scheduled occurrence: one run per schedule and instant."""
    return f"{schedule_id}:{iso_z(scheduled_for)}"


def retry_delay(attempt: int) -> timedelta:
    """Backoff after the ``attempt``-th failure: 10 s, 20 s, 40 s, ... capped at 5 minutes."""
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2 ** (attempt - 1), RETRY_CAP_SECONDS))


def new_run_row(
    *,
    tenant_id: str,
    schedule_id: str,
    install_id: str,
    trigger: str,
    scheduled_for: datetime,
    idempotency_key: str,
    status: str,
    max_attempts: int,
    now: datetime,
    skip_reason: str | None = None,
    error: str | None = None,
    start_at: datetime | None = None,
) -> dict[str, Any]:
    final = status in FINAL
    return {
        "tenant_id": tenant_id,
        "id": new_id(),
        "schedule_id": schedule_id,
        "install_id": install_id,
        "trigger": trigger,
        "scheduled_for": scheduled_for,
        "idempotency_key": idempotency_key,
        "status": status,
        "skip_reason": skip_reason,
        "attempt": 0,
        "max_attempts": max_attempts,
        "next_attempt_at": None if final else (start_at or now),
        "started_at": None,
        "finished_at": now if final else None,
        "duration_ms": None,
        "http_status": None,
        "error": error,
        "request_id": None,
        "version_id": None,
        "content_hash": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "created_at": now,
    }


@dataclass(frozen=True)
class DueOccurrence:
    """What a backend found due for one schedule: the occurrence to run, and those it missed.

    ``missed_count`` may be a lower bound (``missed_capped``) after a very long downtime: counting
    every occurrence of a year-long outage is not worth delaying the schedules that are due now.
    ``start_at`` is set when the occurrence is recorded ahead of its fire time: the run waits
    queued until then, and the overlap rule is applied when it starts.
    """

    tenant_id: str
    install_id: str
    schedule_id: str
    run_for: datetime | None
    missed_first: datetime | None = None
    missed_last: datetime | None = None
    missed_count: int = 0
    missed_capped: bool = False
    start_at: datetime | None = None


@dataclass
class OccurrenceReport:
    queued: int = 0
    skipped: int = 0
    missed: int = 0
    duplicates: int = 0


async def record_occurrences(
    conn: AsyncConnection, items: Sequence[DueOccurrence], now: datetime
) -> OccurrenceReport:
    """Create the runs for due occurrences in the caller's transaction.

    Missed occurrences become one ``missed`` run with their count; the occurrence to run becomes a
    queued run, or a ``skipped`` one (``overlap``) while another run of the schedule is active.
    Delivering the same occurrence twice creates nothing the second time.
    """
    report = OccurrenceReport()
    if not items:
        return report
    tenants = {i.tenant_id for i in items}
    ids = {i.schedule_id for i in items}
    rows = await conn.execute(
        sa.select(sched_t.c.tenant_id, sched_t.c.id, sched_t.c.max_attempts).where(
            sched_t.c.tenant_id.in_(tenants), sched_t.c.id.in_(ids)
        )
    )
    max_attempts = {(r.tenant_id, r.id): r.max_attempts for r in rows}
    runs = RunRepo(conn)
    busy = await runs.active_schedule_ids(
        tenants, {i.schedule_id for i in items if i.start_at is None}, now
    )
    new_rows: list[dict[str, Any]] = []
    for item in items:
        attempts = max_attempts.get((item.tenant_id, item.schedule_id))
        if attempts is None:  # deleted meanwhile; its backend entry is about to go too
            continue
        common = {
            "tenant_id": item.tenant_id,
            "schedule_id": item.schedule_id,
            "install_id": item.install_id,
            "trigger": "schedule",
            "max_attempts": attempts,
            "now": now,
        }
        if item.missed_first is not None and item.missed_count:
            first, count = item.missed_first, item.missed_count
            span = f"from {iso_z(first)}" + (
                f" to {iso_z(item.missed_last)}" if item.missed_last else ""
            )
            new_rows.append(
                new_run_row(
                    **common,
                    scheduled_for=first,
                    idempotency_key=occurrence_key(item.schedule_id, first),
                    status="missed",
                    skip_reason="catchup_window",
                    error=(
                        f"missed {'more than ' if item.missed_capped else ''}{count} "
                        f"occurrence{'s' if count != 1 else ''} {span} "
                        "(older than the catch-up window)"
                    ),
                )
            )
        if item.run_for is not None:
            overlap = item.schedule_id in busy
            new_rows.append(
                new_run_row(
                    **common,
                    scheduled_for=item.run_for,
                    idempotency_key=occurrence_key(item.schedule_id, item.run_for),
                    status="skipped" if overlap else "queued",
                    skip_reason="overlap" if overlap else None,
                    start_at=item.start_at,
                )
            )
    inserted = await runs.insert_new(new_rows)
    for row in new_rows:
        if row["id"] not in inserted:
            report.duplicates += 1
        elif row["status"] == "queued":
            report.queued += 1
        elif row["status"] == "skipped":
            report.skipped += 1
        else:
            report.missed += 1
    return report


# Execution ---------------------------------------------------------------------------------------


@dataclass
class RunContext:
    run: Run
    schedule: Schedule | None
    install: Install | None
    version: Version | None
    endpoint: Endpoint | None
    tenant_paused: bool
    # The encoded Runner request for attempt N, built while the run waited for its fire time.
    encoded: tuple[int, bytes] | None = None


@dataclass
class Completion:
    """The outcome of one claimed run, to be written in a batch."""

    run: Run
    status: str  # final status, or "queued" for a retry
    error: str | None = None
    skip_reason: str | None = None
    http_status: int | None = None
    next_attempt_at: datetime | None = None
    disable_reason: str | None = None
    attempt: dict[str, Any] | None = None
    finished_at: datetime | None = None
    version_id: str | None = None
    content_hash: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def _paused_tenants(conn: AsyncConnection, tenants: set[str]) -> set[str]:
    """Of these tenants, those whose kill switch is on."""
    q = sa.select(settings_t.c.tenant_id).where(
        settings_t.c.tenant_id.in_(tenants), settings_t.c.schedules_paused.is_(True)
    )
    return set((await conn.execute(q)).scalars())


async def load_contexts(conn: AsyncConnection, runs: Sequence[Run]) -> list[RunContext]:
    """Everything the run-time checks need, in a few batched reads."""
    if not runs:
        return []
    tenants = {r.tenant_id for r in runs}
    schedules = {
        (s.tenant_id, s.id): s
        for s in map(
            to_schedule,
            await conn.execute(
                sched_t.select().where(
                    sched_t.c.tenant_id.in_(tenants),
                    sched_t.c.id.in_({r.schedule_id for r in runs}),
                )
            ),
        )
    }
    installs: dict[tuple[str, str], Install] = {}
    for row in await conn.execute(
        inst_t.select().where(
            inst_t.c.tenant_id.in_(tenants), inst_t.c.id.in_({r.install_id for r in runs})
        )
    ):
        installs[(row.tenant_id, row.id)] = to_install(row)
    version_ids = {i.version_id for i in installs.values()}
    versions: dict[str, Version] = {}
    if version_ids:
        for row in await conn.execute(ver_t.select().where(ver_t.c.id.in_(version_ids))):
            versions[row.id] = to_version(row)
    endpoint_ids = {s.endpoint_id for s in schedules.values()}
    endpoints: dict[str, Endpoint] = {}
    if endpoint_ids:
        for row in await conn.execute(ep_t.select().where(ep_t.c.id.in_(endpoint_ids))):
            endpoints[row.id] = to_endpoint(row)
    paused = await _paused_tenants(conn, tenants)
    contexts = []
    for run in runs:
        schedule = schedules.get((run.tenant_id, run.schedule_id))
        install = installs.get((run.tenant_id, run.install_id))
        contexts.append(
            RunContext(
                run=run,
                schedule=schedule,
                install=install,
                version=versions.get(install.version_id) if install else None,
                endpoint=endpoints.get(schedule.endpoint_id) if schedule else None,
                tenant_paused=run.tenant_id in paused,
            )
        )
    return contexts


# What the run-time checks depend on, per run: (schedule updated_at, enabled), (install updated_at,
# enabled, version), tenant paused. A run prepared ahead is re-checked when its mark changed.
Mark = tuple[tuple[Any, ...] | None, tuple[Any, ...] | None, bool]


def mark_of(ctx: RunContext) -> Mark:
    s, i = ctx.schedule, ctx.install
    return (
        (s.updated_at, s.enabled) if s else None,
        (i.updated_at, i.enabled, i.version_id) if i else None,
        ctx.tenant_paused,
    )


async def current_marks(conn: AsyncConnection, runs: Sequence[Run]) -> dict[tuple[str, str], Mark]:
    """The current ``mark_of`` each run's context, in three light reads."""
    if not runs:
        return {}
    tenants = {r.tenant_id for r in runs}
    schedules = {
        (t, i): (u, e)
        for t, i, u, e in await conn.execute(
            sa.select(
                sched_t.c.tenant_id, sched_t.c.id, sched_t.c.updated_at, sched_t.c.enabled
            ).where(
                sched_t.c.tenant_id.in_(tenants),
                sched_t.c.id.in_({r.schedule_id for r in runs}),
            )
        )
    }
    installs = {
        (t, i): (u, e, v)
        for t, i, u, e, v in await conn.execute(
            sa.select(
                inst_t.c.tenant_id,
                inst_t.c.id,
                inst_t.c.updated_at,
                inst_t.c.enabled,
                inst_t.c.version_id,
            ).where(inst_t.c.tenant_id.in_(tenants), inst_t.c.id.in_({r.install_id for r in runs}))
        )
    }
    paused = await _paused_tenants(conn, tenants)
    return {
        (r.tenant_id, r.id): (
            schedules.get((r.tenant_id, r.schedule_id)),
            installs.get((r.tenant_id, r.install_id)),
            r.tenant_id in paused,
        )
        for r in runs
    }


def precheck(ctx: RunContext) -> Completion | None:
    """The run-time checks of SPEC §7.2; a Completion when the run must not call the Runner."""
    run, s, inst = ctx.run, ctx.schedule, ctx.install
    if s is None:
        return Completion(run, "error", error="the schedule no longer exists")
    if inst is None or ctx.version is None:
        return Completion(run, "error", error="the extension is no longer installed")
    if run.trigger == "schedule" and not s.enabled:
        return Completion(run, "skipped", skip_reason="schedule_disabled")
    if not inst.enabled:
        return Completion(run, "skipped", skip_reason="extension_disabled")
    if ctx.tenant_paused:
        return Completion(run, "skipped", skip_reason="tenant_paused")
    if ctx.endpoint is None or ctx.endpoint.version_id != inst.version_id:
        return Completion(
            run,
            "error",
            error="the schedule's endpoint is not part of the installed version",
            disable_reason="endpoint_missing",
        )
    return None


class RunExecutor:
    """Executes one attempt of a claimed run and writes outcomes in batches."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        client: RunnerClient,
        metrics: Metrics,
        sync: SyncService,
        box: SecretBox,
        *,
        timeout_ms: int = 30_000,
        auto_disable_after: int | None = None,
    ) -> None:
        self.sync = sync
        self.box = box
        self.db = db
        self.clock = clock
        self.client = client
        self.metrics = metrics
        self.timeout_ms = timeout_ms
        self.auto_disable_after = auto_disable_after

    def invocation(self, ctx: RunContext, attempt: int) -> Invocation:
        """What the Runner is told for attempt ``attempt`` (a context that passed ``precheck``)."""
        run, inst, version = ctx.run, ctx.install, ctx.version
        assert ctx.schedule and inst and version and ctx.endpoint
        return Invocation(
            run_id=run.id,
            # New per attempt, and traceable: the run id and the attempt number.
            request_id=f"{run.id}.{attempt}",
            trigger=run.trigger,
            schedule_id=run.schedule_id,
            scheduled_for=run.scheduled_for,
            attempt=attempt,
            method=ctx.endpoint.method,
            path=ctx.endpoint.path,
            payload=ctx.schedule.payload_json,
            install=install_config(inst, version.content_hash, self.box.open(inst.secret_envelope)),
            timeout_ms=self.timeout_ms,
        )

    def encode_ahead(self, ctx: RunContext) -> None:
        """Build the request of the run's next attempt now, while it waits for its fire time.
        ``attempt`` uses it only if the context is still the one it was built from."""
        if precheck(ctx) is not None:
            return
        attempt = ctx.run.attempt + 1
        with contextlib.suppress(ValueError, SecretsUnreadable):  # ``attempt`` records why
            ctx.encoded = (attempt, self.client.encode(self.invocation(ctx, attempt)))

    async def attempt(self, ctx: RunContext) -> Completion:
        blocked = precheck(ctx)
        if blocked is not None:
            return blocked
        run = ctx.run
        request_id = f"{run.id}.{run.attempt}"
        started = self.clock.now()
        if run.attempt == 1:
            self.metrics.fire_lag.observe(max(0.0, (started - run.scheduled_for).total_seconds()))
        if ctx.encoded is not None and ctx.encoded[0] == run.attempt:
            result = await self.client.send(ctx.encoded[1], self.timeout_ms)
        else:
            try:
                invocation = self.invocation(ctx, run.attempt)
            except SecretsUnreadable as exc:
                result = AttemptResult.failure(str(exc), retryable=False)
            else:
                result = await self.client.execute(invocation)
        finished = self.clock.now()
        self.metrics.attempt_duration.observe((finished - started).total_seconds())
        return self._completion(ctx, request_id, started, finished, result)

    def _completion(
        self,
        ctx: RunContext,
        request_id: str,
        started: datetime,
        finished: datetime,
        result: AttemptResult,
    ) -> Completion:
        run = ctx.run
        attempt_row = {
            "tenant_id": run.tenant_id,
            "id": request_id,
            "run_id": run.id,
            "schedule_id": run.schedule_id,
            "attempt": run.attempt,
            "request_id": request_id,
            "started_at": started,
            "finished_at": finished,
            "duration_ms": int((finished - started).total_seconds() * 1000),
            "outcome": result.status,
            "http_status": result.http_status,
            "error": result.error,
        }
        common: dict[str, Any] = {
            "attempt": attempt_row,
            "http_status": result.http_status,
            "error": result.error,
            "finished_at": finished,
            "version_id": ctx.install.version_id if ctx.install else None,
            "content_hash": ctx.version.content_hash if ctx.version else None,
            "extra": {"request_id": request_id},
        }
        if result.ok:
            return Completion(run, "success", **common)
        log.info(
            "attempt %s of %s failed: %s",
            run.attempt,
            run.max_attempts,
            result.error,
            extra={
                "tenant_id": run.tenant_id,
                "schedule_id": run.schedule_id,
                "run_id": run.id,
                "request_id": request_id,
            },
        )
        if result.retryable and run.attempt < run.max_attempts:
            return Completion(
                run, "queued", next_attempt_at=finished + retry_delay(run.attempt), **common
            )
        return Completion(run, result.status, **common)

    async def complete(self, owner: str | None, completions: Sequence[Completion]) -> int:
        """Write outcomes in one transaction; returns how many were still owned and written."""
        if not completions:
            return 0
        now = self.clock.now()
        async with self.db.transaction() as conn:
            written = await self._write_runs(conn, owner, completions, now)
            finals = [c for c in written if c.status != "queued"]
            await self.settle(conn, finals, now)
        self.count(finals)
        return len(written)

    async def _write_runs(
        self,
        conn: AsyncConnection,
        owner: str | None,
        completions: Sequence[Completion],
        now: datetime,
    ) -> list[Completion]:
        runs = RunRepo(conn)
        outcomes = [self._outcome(c, now) for c in completions]
        if owner is not None and await runs.finish_many(owner, outcomes) == len(outcomes):
            written = list(completions)
        else:
            # Some leases moved on (or no owner to fence by): find out which, row by row. Whoever
            # holds a lost lease now reports that run's outcome.
            written = []
            for c, o in zip(completions, outcomes, strict=True):
                values = {k[2:]: v for k, v in o.items() if k not in ("b_tenant", "b_id")}
                values = {k: v for k, v in values.items() if v is not None or k in _NULLABLE}
                values.update(lease_owner=None, lease_expires_at=None)
                if await runs.finish(c.run, owner=owner, values=values):
                    written.append(c)
        await runs.add_attempts([c.attempt for c in written if c.attempt])
        return written

    @staticmethod
    def _outcome(c: Completion, now: datetime) -> dict[str, Any]:
        final = c.status != "queued"
        finished = (c.finished_at or now) if final else None
        started = c.run.started_at or finished
        return {
            "b_tenant": c.run.tenant_id,
            "b_id": c.run.id,
            "b_status": c.status,
            "b_error": c.error,
            "b_http_status": c.http_status,
            "b_skip_reason": c.skip_reason,
            "b_version_id": c.version_id,
            "b_content_hash": c.content_hash,
            "b_request_id": c.extra.get("request_id"),
            "b_next_attempt_at": None if final else c.next_attempt_at,
            "b_finished_at": finished,
            "b_duration_ms": (
                int((finished - started).total_seconds() * 1000) if finished and started else None
            ),
        }

    async def settle(
        self, conn: AsyncConnection, finals: Sequence[Completion], now: datetime
    ) -> None:
        """After runs reached a final status: their schedules' last-run fields, auto-disable."""
        ran = [c for c in finals if c.status != "skipped"]  # skipped runs did not execute
        ok = [c for c in ran if c.status == "success"]
        failed = [c for c in ran if c.status != "success"]
        where = (
            sched_t.c.tenant_id == sa.bindparam("b_tenant"),
            sched_t.c.id == sa.bindparam("b_schedule"),
        )
        if ok:
            await conn.execute(
                sched_t.update()
                .where(*where)
                .values(
                    last_run_at=sa.bindparam("b_at", type_=UtcDateTime()),
                    last_run_status="success",
                    last_error=None,
                    last_success_at=sa.bindparam("b_done", type_=UtcDateTime()),
                    consecutive_failures=0,
                ),
                [self._schedule_params(c, now) for c in ok],
            )
        if failed:
            await conn.execute(
                sched_t.update()
                .where(*where)
                .values(
                    last_run_at=sa.bindparam("b_at", type_=UtcDateTime()),
                    last_run_status=sa.bindparam("b_status"),
                    last_error=sa.bindparam("b_error"),
                    consecutive_failures=sched_t.c.consecutive_failures + 1,
                ),
                [self._schedule_params(c, now) for c in failed],
            )
            if self.auto_disable_after:
                await self._auto_disable(conn, failed, now)
        for c in finals:
            if c.disable_reason:
                await self._disable(conn, c.run, c.disable_reason, now)

    @staticmethod
    def _schedule_params(c: Completion, now: datetime) -> dict[str, Any]:
        return {
            "b_tenant": c.run.tenant_id,
            "b_schedule": c.run.schedule_id,
            "b_at": c.run.started_at or now,
            "b_done": c.finished_at or now,
            "b_status": c.status,
            "b_error": (c.error or c.status)[:4000],
        }

    async def _auto_disable(
        self, conn: AsyncConnection, failed: Sequence[Completion], now: datetime
    ) -> None:
        limit = self.auto_disable_after or 0
        for c in failed:
            failures = (
                await conn.execute(
                    sa.select(sched_t.c.consecutive_failures).where(
                        sched_t.c.tenant_id == c.run.tenant_id, sched_t.c.id == c.run.schedule_id
                    )
                )
            ).scalar_one_or_none()
            if failures is not None and failures >= limit:
                await self._disable(conn, c.run, "too_many_failures", now)

    def count(self, finals: Sequence[Completion]) -> None:
        for c in finals:
            self.metrics.runs.labels(status=c.status, trigger=c.run.trigger).inc()

    async def _disable(self, conn: AsyncConnection, run: Run, reason: str, now: datetime) -> None:
        """Disable the schedule with a visible reason; its backend entry is paused via an intent."""
        result = await conn.execute(
            sched_t.update()
            .where(
                sched_t.c.tenant_id == run.tenant_id,
                sched_t.c.id == run.schedule_id,
                sched_t.c.enabled.is_(True),
            )
            .values(enabled=False, disabled_reason=reason, updated_at=now)
        )
        if result.rowcount:
            await self.sync.stage(conn, run.tenant_id, run.install_id, run.schedule_id, now)
            log.warning(
                "schedule disabled",
                extra={
                    "tenant_id": run.tenant_id,
                    "schedule_id": run.schedule_id,
                    "reason": reason,
                },
            )
