"""Sync intents: bring the backend in line with the database, after commit, until it sticks.

An intent names a schedule, not an operation: applying it reads the schedule's current state
and makes the backend match (ensure + paused flag, or delete when the row is gone). Applying an
intent twice, or applying a stale one, therefore converges on the database's truth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.backends.base import JobRunner, ScheduleSpec, schedule_key, spec_for
from extsched.clock import Clock
from extsched.domain.records import Install, Schedule
from extsched.domain.runs import firing
from extsched.store.db import Database
from extsched.store.install_repo import InstallRepo
from extsched.store.intent_repo import IntentRepo, SyncTarget, intent_row
from extsched.store.new_rows import NewRow
from extsched.store.schedule_repo import ScheduleRepo
from extsched.store.tenant_repo import TenantRepo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncOutcome:
    applied: int
    failed: int


@dataclass(frozen=True)
class Known:
    """A schedule as just written, with its install and its tenant's kill switch: what the
    backend should hold, without reading it back."""

    schedule: Schedule
    install: Install | None
    tenant_paused: bool


@dataclass(frozen=True)
class Desired:
    spec: ScheduleSpec
    paused: bool


def desired_of(known: Known) -> Desired:
    s, install = known.schedule, known.install
    fires = install is not None and firing(s.enabled, install.enabled, known.tenant_paused)
    spec = spec_for(s.tenant_id, s.install_id, s.id, s.cron, s.timezone, s.jitter_seconds)
    return Desired(spec, not fires)


class SyncService:
    def __init__(self, db: Database, backend: JobRunner, clock: Clock) -> None:
        self.db = db
        self.backend = backend
        self.clock = clock

    async def apply_due(self, limit: int = 500) -> SyncOutcome:
        """Apply every intent whose retry time has come (all tenants; the background loop)."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            targets = await IntentRepo(conn).due(now, limit)
        applied = failed = 0
        for target in targets:
            if await self.apply(target, now):
                applied += 1
            else:
                failed += 1
        return SyncOutcome(applied, failed)

    async def stage(
        self,
        conn: AsyncConnection,
        target: SyncTarget,
        now: datetime,
        known: Known | None = None,
    ) -> None:
        """Inside the transaction that changed a schedule (or its install or tenant): make the
        backend follow. A transactional backend changes in this same transaction; any other gets
        a sync intent, applied after commit by ``apply``. ``known`` saves reading the state."""
        if not self.backend.transactional:
            await IntentRepo(conn).add(target, now)
            return
        key = schedule_key(target.tenant_id, target.install_id, target.schedule_id)
        desired = desired_of(known) if known is not None else await self._desired(conn, target)
        if desired is None:
            await self.backend.delete_in(conn, key, now=now)
        else:
            await self.backend.ensure_in(conn, key, desired.spec, paused=desired.paused, now=now)

    def staged_for_new(self, target: SyncTarget, now: datetime, known: Known) -> NewRow:
        """``stage`` for a schedule created in this transaction, as the row to insert with the
        schedule's own: the transactional backend's entry, or else the sync intent."""
        if not self.backend.transactional:
            return intent_row(target, now)
        desired = desired_of(known)
        key = schedule_key(target.tenant_id, target.install_id, target.schedule_id)
        return self.backend.entry_row(key, desired.spec, paused=desired.paused, now=now)

    async def _desired(self, conn: AsyncConnection, target: SyncTarget) -> Desired | None:
        """The backend entry a schedule should have, or None: no entry."""
        schedule = await ScheduleRepo(conn).get(target.tenant_id, target.schedule_id)
        if schedule is None:
            return None
        install = await InstallRepo(conn).get(target.tenant_id, target.install_id)
        paused = (await TenantRepo(conn).settings(target.tenant_id)).schedules_paused
        return desired_of(Known(schedule, install, paused))

    async def apply(self, target: SyncTarget, now: datetime | None = None) -> bool:
        """After commit: make the backend match one schedule; True when done (its intents are
        then cleared). A transactional backend already changed with the row: it is only told."""
        if self.backend.transactional:
            self.backend.notify_changed()
            return True
        async with self.db.connect() as conn:
            # Intents read before the state: one added after this read survives for the next pass.
            intent_ids = await IntentRepo(conn).ids_for(target.tenant_id, target.schedule_id)
            desired = await self._desired(conn, target)
        key = schedule_key(target.tenant_id, target.install_id, target.schedule_id)
        try:
            if desired is None:
                await self.backend.delete(key)
            else:
                await self.backend.ensure_schedule(key, desired.spec, paused=desired.paused)
        except Exception as exc:  # any backend failure is retried later, never lost
            log.warning(
                "backend sync failed; will retry",
                extra={
                    "tenant_id": target.tenant_id,
                    "schedule_id": target.schedule_id,
                    "error": str(exc),
                },
            )
            async with self.db.transaction() as conn:
                await IntentRepo(conn).postpone(
                    target.tenant_id, target.schedule_id, str(exc), now or self.clock.now()
                )
            return False
        if intent_ids:
            async with self.db.transaction() as conn:
                await IntentRepo(conn).clear(target.tenant_id, intent_ids)
        return True

    async def apply_all(self, targets: list[SyncTarget]) -> None:
        for target in targets:
            await self.apply(target)

    async def pending(self, tenant_id: str | None = None) -> int:
        async with self.db.connect() as conn:
            return await IntentRepo(conn).count(tenant_id)
