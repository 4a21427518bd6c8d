"""What a backend needs from the layer above to turn occurrences into runs and execute them.

A backend decides *when*: which occurrence is due, which worker leases which run, how many calls
are in flight. The run pipeline decides *what*: the run records, the checks at run time, the
Runner request, retries, outcomes and the schedule's last-run fields, by the rules of
``domain.runs``. The service layer implements this port (``services.pipeline.RunPipeline``) and
the composition root hands it to every backend (embedded dispatcher and workers, the Temporal
activity), so a run obeys the same rules whichever backend fired it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.records import Run
from extsched.domain.runs import DueOccurrence, Freshness, OccurrenceReport, Outcome, RunContext

RunKey = tuple[str, str]  # (tenant_id, run id)


@dataclass(frozen=True)
class Fire:
    """An occurrence an engine outside the database fired for a schedule."""

    tenant_id: str
    schedule_id: str
    scheduled_for: datetime


@dataclass
class Prepared:
    """A leased run made ready to start: its context (and Runner request) loaded, and what the
    context depends on, to notice a change before the start."""

    ctx: RunContext
    freshness: Freshness


@dataclass(frozen=True)
class Started:
    """A run that became running (attempt + 1, its lease renewed for the call). ``overlap``: its
    schedule has another run active, so it ends ``skipped`` instead of calling the Runner."""

    ctx: RunContext
    overlap: bool


class RunPort(Protocol):
    async def record_occurrences(
        self, conn: AsyncConnection, items: Sequence[DueOccurrence], now: datetime
    ) -> OccurrenceReport:
        """Create the runs of due occurrences inside the caller's transaction (the one that
        advances the backend's own state). Idempotent per occurrence: one run per schedule and
        instant however often it is delivered. Missed occurrences become one ``missed`` run;
        an occurrence whose schedule is busy becomes ``skipped`` unless it was recorded ahead."""
        ...

    async def cancel_ahead(
        self, conn: AsyncConnection, tenant_id: str, schedule_id: str, now: datetime
    ) -> int:
        """Inside the caller's transaction: delete the schedule's run recorded ahead for an
        occurrence that has not come yet (a change supersedes it); a run a worker already
        started is left alone. Returns how many were deleted."""
        ...

    async def record_fired(
        self, fires: Sequence[Fire], now: datetime, catchup_window: timedelta
    ) -> list[RunKey | None]:
        """Occurrences fired by an engine outside the database, recorded by the rules of
        ``domain.fires`` (a fire the cron engine does not expect is skipped as
        ``dst_duplicate``; what the engine dropped as too old is one ``missed`` run, what it
        passed over while a run was active is ``skipped`` as an overlap). For each fire, the run
        to execute: the unfinished (queued or running) run of its occurrence, also when an
        earlier delivery of the same fire recorded it; None when nothing is to run."""
        ...

    async def begin_fired(
        self,
        owner: str,
        fires: Sequence[Fire],
        now: datetime,
        catchup_window: timedelta,
        lease_until: datetime,
    ) -> list[Started | RunKey | None]:
        """``record_fired`` and, in the same transaction, start for ``owner`` each fire's run that
        is queued, due and held by no live lease (``Started``, its context loaded; the overlap
        rule applied). A ``RunKey``: the fire's run, recorded but not started here (another
        worker holds it, or it is not due); None: nothing to run."""
        ...

    async def lease(
        self,
        owner: str,
        now: datetime,
        horizon: datetime,
        lease_until: datetime,
        limit: int,
        keys: Sequence[RunKey] | None = None,
    ) -> list[Run]:
        """Lease queued runs due by ``horizon`` (only those of ``keys`` when given); they stay
        queued until ``start``."""
        ...

    async def pending_at(self, key: RunKey) -> datetime | None:
        """When to look at a run again: a queued run's next attempt, a running one's lease end
        (it may have to be taken back then); None when it ended."""
        ...

    async def prepare(self, runs: Sequence[Run]) -> list[Prepared]:
        """Load what leased runs need to start and build their Runner requests (no write)."""
        ...

    async def start(
        self, owner: str, batch: Sequence[Prepared], now: datetime, lease_until: datetime
    ) -> list[Started]:
        """Start the runs still leased to ``owner`` in one transaction: contexts that changed
        since ``prepare`` are read again; the overlap rule is applied. Runs cancelled or taken
        over meanwhile are left out."""
        ...

    async def execute(self, ctx: RunContext) -> Outcome:
        """One attempt of a started run: the run-time checks, then the Runner call with no
        transaction open. Never raises for a failure of the call; it is in the outcome."""
        ...

    async def settle(self, owner: str, outcomes: Sequence[Outcome]) -> int:
        """Write outcomes of runs still leased to ``owner``, with their attempts and schedules'
        last-run fields, in one transaction; returns how many were still ``owner``'s. Raises
        when the database fails: nothing is written then, and the caller tries again."""
        ...

    async def renew(self, owner: str, keys: Sequence[RunKey], until: datetime) -> None:
        """Extend the leases of ``owner``'s running runs."""
        ...

    async def release(self, owner: str) -> None:
        """Give back the runs ``owner`` leased and did not start."""
        ...

    async def take_back(
        self, now: datetime, limit: int, keep: set[RunKey], lease_ttl: timedelta
    ) -> int:
        """Runs whose lease ran out (their worker vanished; except those in ``keep``, whose
        outcome the caller holds): the lost attempt is recorded as abandoned, begun at the
        latest ``lease_ttl`` before the lease's end, then the run is retried or ends. Returns
        how many."""
        ...

    async def next_due(self, after: datetime) -> datetime | None:
        """When the first queued run due after ``after`` is."""
        ...
