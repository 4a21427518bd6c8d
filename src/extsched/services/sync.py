"""Sync intents: bring the backend in line with the database, after commit, until it sticks.

An intent names a schedule, not an operation: applying it reads the schedule's current state
and makes the backend match (ensure + paused flag, or delete when the row is gone). Applying an
intent twice, or applying a stale one, therefore converges on the database's truth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.backends.base import JobRunner, ScheduleSpec, schedule_key, spec_for
from extsched.clock import Clock
from extsched.domain.records import Install, Schedule
from extsched.store.db import Database
from extsched.store.install_repo import InstallRepo
from extsched.store.schedule_repo import ScheduleRepo
from extsched.store.tables import tenant_extension_sync_intent as intent_t
from extsched.store.tenant_repo import TenantRepo

log = logging.getLogger(__name__)

RETRY_BASE = timedelta(seconds=5)
RETRY_CAP = timedelta(minutes=5)


@dataclass(frozen=True)
class SyncOutcome:
    applied: int
    failed: int


class SyncService:
    def __init__(self, db: Database, backend: JobRunner, clock: Clock) -> None:
        self.db = db
        self.backend = backend
        self.clock = clock

    async def apply_due(self, limit: int = 500) -> SyncOutcome:
        """Apply every intent whose retry time has come (all tenants; the background loop)."""
        async with self.db.connect() as conn:
            q = (
                sa.select(intent_t.c.tenant_id, intent_t.c.schedule_id, intent_t.c.install_id)
                .where(intent_t.c.not_before <= self.clock.now())
                .distinct()
                .limit(limit)
            )
            targets = [(r.tenant_id, r.install_id, r.schedule_id) for r in await conn.execute(q)]
        applied = failed = 0
        for tenant_id, install_id, schedule_id in targets:
            if await self.apply(tenant_id, install_id, schedule_id):
                applied += 1
            else:
                failed += 1
        return SyncOutcome(applied, failed)

    async def stage(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        install_id: str,
        schedule_id: str,
        now: datetime,
        *,
        known: tuple[Schedule, Install, bool] | None = None,
    ) -> None:
        """Inside the transaction that changed a schedule (or its install or tenant): make the
        backend follow. A transactional backend changes in this same transaction; any other gets
        a sync intent, applied after commit by ``apply``. ``known`` (the schedule as written, its
        install and the tenant's pause flag) saves re-reading them."""
        if not self.backend.transactional:
            await ScheduleRepo(conn).add_intent(tenant_id, schedule_id, install_id, now)
            return
        key = schedule_key(tenant_id, install_id, schedule_id)
        desired = (
            _desired_of(*known)
            if known is not None
            else await self._desired(conn, tenant_id, install_id, schedule_id)
        )
        if desired is None:
            await self.backend.delete_in(conn, key)
        else:
            await self.backend.ensure_in(conn, key, desired[0], paused=desired[1])

    async def _desired(
        self, conn: AsyncConnection, tenant_id: str, install_id: str, schedule_id: str
    ) -> tuple[ScheduleSpec, bool] | None:
        """The backend entry a schedule should have (spec, paused), or None: no entry."""
        schedule = await ScheduleRepo(conn).get(tenant_id, schedule_id)
        if schedule is None:
            return None
        install = await InstallRepo(conn).get(tenant_id, install_id)
        paused_tenant = (await TenantRepo(conn).settings(tenant_id)).schedules_paused
        return _desired_of(schedule, install, paused_tenant)

    async def apply(self, tenant_id: str, install_id: str, schedule_id: str) -> bool:
        """After commit: make the backend match one schedule; True when done (its intents are
        then cleared). A transactional backend already changed with the row: it is only told."""
        if self.backend.transactional:
            self.backend.notify_changed()
            return True
        async with self.db.connect() as conn:
            # Intents read before the state: one added after this read survives for the next pass.
            intent_ids = list(
                (
                    await conn.execute(
                        sa.select(intent_t.c.id).where(
                            intent_t.c.tenant_id == tenant_id,
                            intent_t.c.schedule_id == schedule_id,
                        )
                    )
                ).scalars()
            )
            desired = await self._desired(conn, tenant_id, install_id, schedule_id)
        key = schedule_key(tenant_id, install_id, schedule_id)
        try:
            if desired is None:
                await self.backend.delete(key)
            else:
                await self.backend.ensure_schedule(key, desired[0], paused=desired[1])
        except Exception as exc:  # any backend failure is retried later, never lost
            log.warning(
                "backend sync failed; will retry",
                extra={"tenant_id": tenant_id, "schedule_id": schedule_id, "error": str(exc)},
            )
            await self._postpone(tenant_id, schedule_id, str(exc))
            return False
        if intent_ids:
            async with self.db.transaction() as conn:
                await conn.execute(
                    intent_t.delete().where(
                        intent_t.c.tenant_id == tenant_id, intent_t.c.id.in_(intent_ids)
                    )
                )
        return True

    async def _postpone(self, tenant_id: str, schedule_id: str, error: str) -> None:
        async with self.db.transaction() as conn:
            rows = await conn.execute(
                sa.select(intent_t.c.id, intent_t.c.attempts).where(
                    intent_t.c.tenant_id == tenant_id, intent_t.c.schedule_id == schedule_id
                )
            )
            for intent_id, attempts in rows.all():
                delay = min(RETRY_BASE * (2**attempts), RETRY_CAP)
                await conn.execute(
                    intent_t.update()
                    .where(intent_t.c.tenant_id == tenant_id, intent_t.c.id == intent_id)
                    .values(
                        attempts=attempts + 1,
                        last_error=error[:4000],
                        not_before=self.clock.now() + delay,
                    )
                )

    async def pending(self, tenant_id: str | None = None) -> int:
        async with self.db.connect() as conn:
            q = sa.select(sa.func.count()).select_from(intent_t)
            if tenant_id is not None:
                q = q.where(intent_t.c.tenant_id == tenant_id)
            return int((await conn.execute(q)).scalar_one())


def _desired_of(
    schedule: Schedule, install: Install | None, tenant_paused: bool
) -> tuple[ScheduleSpec, bool]:
    firing = schedule.enabled and install is not None and install.enabled and not tenant_paused
    spec = spec_for(
        schedule.tenant_id,
        schedule.install_id,
        schedule.id,
        schedule.cron,
        schedule.timezone,
        schedule.jitter_seconds,
    )
    return spec, not firing
