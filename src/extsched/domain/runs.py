"""The rules of a run (SPEC §7.2), pure: occurrence identity, when a schedule fires, the checks at
run time, how an attempt's result becomes an outcome, and the one back-off policy.

Every backend and every service applies these; nothing else decides them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from extsched.domain.invocation import AttemptResult, iso_z
from extsched.domain.records import Endpoint, Install, Run, Schedule
from extsched.ids import new_id

FINAL = ("success", "error", "timeout", "skipped", "missed")
BACKOFF_FIRST = timedelta(seconds=10)
BACKOFF_CAP = timedelta(minutes=5)
ABANDONED = "the worker running this attempt stopped before it finished"

ScheduleState = Literal["enabled", "disabled", "paused"]


def occurrence_key(schedule_id: str, scheduled_for: datetime) -> str:
    """The idempotency key of a scheduled occurrence: one run per schedule and instant."""
    return f"{schedule_id}:{iso_z(scheduled_for)}"


def backoff(failures: int) -> timedelta:
    """The wait after the ``failures``-th failure in a row: 10 s, 20 s, 40 s, ... at most
    5 minutes. Retried attempts and backend syncs both wait this long."""
    wait: timedelta = BACKOFF_FIRST * 2 ** max(0, failures - 1)
    return min(wait, BACKOFF_CAP)


def schedule_state(enabled: bool, install_enabled: bool, tenant_paused: bool) -> ScheduleState:
    """``disabled`` by its user or the system, ``paused`` by its install or the tenant's kill
    switch, else ``enabled``: only an enabled schedule fires."""
    if not enabled:
        return "disabled"
    if not install_enabled or tenant_paused:
        return "paused"
    return "enabled"


def firing(enabled: bool, install_enabled: bool, tenant_paused: bool) -> bool:
    return schedule_state(enabled, install_enabled, tenant_paused) == "enabled"


def new_run(
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
) -> Run:
    """A run as recorded: queued until ``start_at`` (default now), or already final."""
    final = status in FINAL
    return Run(
        tenant_id=tenant_id,
        id=new_id(),
        schedule_id=schedule_id,
        install_id=install_id,
        trigger=trigger,
        scheduled_for=scheduled_for,
        idempotency_key=idempotency_key,
        status=status,
        skip_reason=skip_reason,
        attempt=0,
        max_attempts=max_attempts,
        next_attempt_at=None if final else (start_at or now),
        started_at=None,
        finished_at=now if final else None,
        duration_ms=None,
        http_status=None,
        error=error,
        request_id=None,
        version_id=None,
        content_hash=None,
        lease_owner=None,
        lease_expires_at=None,
        created_at=now,
    )


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

    def add(self, other: OccurrenceReport) -> None:
        self.queued += other.queued
        self.skipped += other.skipped
        self.missed += other.missed
        self.duplicates += other.duplicates


def occurrence_run(
    item: DueOccurrence, at: datetime, status: str, max_attempts: int, now: datetime, **extra: Any
) -> Run:
    """The run recording the occurrence at ``at`` of ``item``'s schedule, keyed by it."""
    return new_run(
        tenant_id=item.tenant_id,
        schedule_id=item.schedule_id,
        install_id=item.install_id,
        trigger="schedule",
        scheduled_for=at,
        idempotency_key=occurrence_key(item.schedule_id, at),
        status=status,
        max_attempts=max_attempts,
        now=now,
        **extra,
    )


def occurrence_runs(item: DueOccurrence, max_attempts: int, busy: bool, now: datetime) -> list[Run]:
    """The runs recording ``item``: one ``missed`` run for the occurrences older than the
    catch-up window, and the one to run, ``skipped`` (overlap) when the schedule is ``busy``."""

    def recorded(at: datetime, status: str, **extra: Any) -> Run:
        return occurrence_run(item, at, status, max_attempts, now, **extra)

    runs = []
    if item.missed_first is not None and item.missed_count:
        first, count = item.missed_first, item.missed_count
        span = f"from {iso_z(first)}" + (
            f" to {iso_z(item.missed_last)}" if item.missed_last else ""
        )
        error = (
            f"missed {'more than ' if item.missed_capped else ''}{count} "
            f"occurrence{'s' if count != 1 else ''} {span} (after downtime only the newest occurrence within the catch-up window runs)"
        )
        runs.append(recorded(first, "missed", skip_reason="catchup_window", error=error))
    if item.run_for is not None:
        runs.append(
            recorded(
                item.run_for,
                "skipped" if busy else "queued",
                skip_reason="overlap" if busy else None,
                start_at=item.start_at,
            )
        )
    return runs


# Execution ---------------------------------------------------------------------------------------


@dataclass
class RunContext:
    """A run with everything its checks and its Runner request need, read at one moment."""

    run: Run
    schedule: Schedule | None
    install: Install | None
    content_hash: str | None  # of the installed version; None: that version is gone
    endpoint: Endpoint | None
    tenant_paused: bool
    # The encoded Runner request of attempt N, built while the run waited for its fire time.
    prepared_request: tuple[int, bytes] | None = None


@dataclass(frozen=True)
class Freshness:
    """What a run's checks depend on: when it changed, its context must be read again."""

    schedule: tuple[datetime, bool] | None  # updated_at, enabled
    install: tuple[datetime, bool, str] | None  # updated_at, enabled, version_id
    tenant_paused: bool


def freshness_of(ctx: RunContext) -> Freshness:
    s, i = ctx.schedule, ctx.install
    return Freshness(
        (s.updated_at, s.enabled) if s else None,
        (i.updated_at, i.enabled, i.version_id) if i else None,
        ctx.tenant_paused,
    )


@dataclass(frozen=True)
class AttemptRecord:
    """One call to the Runner within a run, as ``tenant_extension_run_attempt`` keeps it."""

    tenant_id: str
    id: str
    run_id: str
    schedule_id: str
    attempt: int
    request_id: str
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    outcome: str
    http_status: int | None
    error: str | None
    worker: str | None = None  # the lease owner that made the call


def request_id(run: Run, attempt: int) -> str:
    """New per attempt, and traceable: the run id and the attempt number."""
    return f"{run.id}.{attempt}"


def attempt_record(
    run: Run,
    started: datetime,
    finished: datetime,
    outcome: str,
    *,
    http_status: int | None = None,
    error: str | None = None,
    worker: str | None = None,
) -> AttemptRecord:
    rid = request_id(run, run.attempt)
    return AttemptRecord(
        tenant_id=run.tenant_id,
        id=rid,
        run_id=run.id,
        schedule_id=run.schedule_id,
        attempt=run.attempt,
        request_id=rid,
        started_at=started,
        finished_at=finished,
        duration_ms=max(0, int((finished - started).total_seconds() * 1000)),
        outcome=outcome,
        http_status=http_status,
        error=error,
        worker=worker,
    )


@dataclass(frozen=True)
class Outcome:
    """How a started run's attempt ended: a final ``status``, or another attempt at
    ``retry_at``. Written in batches, fenced by the lease."""

    run: Run
    status: str  # the final status; when retry_at is set, the status the run would end with
    retry_at: datetime | None = None
    error: str | None = None
    skip_reason: str | None = None
    http_status: int | None = None
    disable_reason: str | None = None  # the schedule is disabled with this reason
    attempt: AttemptRecord | None = None
    finished_at: datetime | None = None
    version_id: str | None = None
    content_hash: str | None = None

    @property
    def final(self) -> bool:
        return self.retry_at is None

    @property
    def request_id(self) -> str | None:
        return self.attempt.request_id if self.attempt else None


def retry_at(run: Run, now: datetime) -> datetime | None:
    """After a retryable failure of ``run``'s current attempt: when to try again, or None when
    its attempts are used up."""
    return now + backoff(run.attempt) if run.attempt < run.max_attempts else None


def precheck(ctx: RunContext) -> Outcome | None:
    """The run-time checks of SPEC §7.2; an Outcome when the run must not call the Runner."""
    run, s, inst = ctx.run, ctx.schedule, ctx.install
    if s is None:
        return Outcome(run, "error", error="the schedule no longer exists")
    if inst is None or ctx.content_hash is None:
        return Outcome(run, "error", error="the extension is no longer installed")
    if run.trigger == "schedule" and not s.enabled:
        return Outcome(run, "skipped", skip_reason="schedule_disabled")
    if not inst.enabled:
        return Outcome(run, "skipped", skip_reason="extension_disabled")
    if ctx.tenant_paused:
        return Outcome(run, "skipped", skip_reason="tenant_paused")
    if ctx.endpoint is None or ctx.endpoint.version_id != inst.version_id:
        return Outcome(
            run,
            "error",
            error="the schedule's endpoint is not part of the installed version",
            disable_reason="endpoint_missing",
        )
    return None


def decide(
    ctx: RunContext, result: AttemptResult, started: datetime, finished: datetime
) -> Outcome:
    """The outcome of one attempt: success, a retry after the back-off while attempts remain and
    the failure is retryable, or the final failure."""
    run = ctx.run
    record = attempt_record(
        run, started, finished, result.status, http_status=result.http_status, error=result.error
    )
    again = retry_at(run, finished) if result.retryable and not result.ok else None
    return Outcome(
        run,
        result.status,
        retry_at=again,
        error=result.error,
        http_status=result.http_status,
        attempt=record,
        finished_at=finished,
        version_id=ctx.install.version_id if ctx.install else None,
        content_hash=ctx.content_hash,
    )


def crashed(run: Run, error: str, now: datetime) -> Outcome:
    """An attempt that ended without a result (a bug, or a worker that vanished): retried like
    a retryable failure."""
    return Outcome(run, "error", retry_at=retry_at(run, now), error=error, finished_at=now)


def abandoned(run: Run, began: datetime, now: datetime) -> Outcome:
    """A run whose worker vanished mid-attempt, taken back at ``now``: the lost attempt is
    recorded, and the run retried like a retryable failure."""
    return Outcome(
        run,
        "error",
        retry_at=retry_at(run, now),
        error=ABANDONED,
        attempt=attempt_record(
            run, began, now, "abandoned", error=ABANDONED, worker=run.lease_owner
        ),
        finished_at=now,
    )
