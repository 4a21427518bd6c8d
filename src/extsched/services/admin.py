"""Platform operators' tools across tenants: list schedules, delete one, kill switch."""

from __future__ import annotations

from typing import Any

from extsched.clock import Clock
from extsched.domain.paging import PageRequest, cut_page
from extsched.domain.records import Schedule, TenantSettings
from extsched.errors import ScheduleNotFound
from extsched.services import audit
from extsched.services.caller import Caller
from extsched.services.inputs import Given
from extsched.services.sync import SyncService
from extsched.services.tenants import TenantService
from extsched.store.db import Database
from extsched.store.intent_repo import SyncTarget
from extsched.store.schedule_fleet import ScheduleFleet
from extsched.store.schedule_repo import ScheduleRepo


class AdminService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sync: SyncService,
        tenants: TenantService,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sync = sync
        self.tenants = tenants

    async def list_schedules(
        self, page: PageRequest, *, tenant_id: str | None = None, enabled: bool | None = None
    ) -> tuple[list[Schedule], str | None]:
        async with self.db.connect() as conn:
            rows = await ScheduleFleet(conn).page(page, tenant_id=tenant_id, enabled=enabled)
        return cut_page(rows, page, lambda s: (s.created_at, s.id))

    async def delete_schedule(self, operator: str, tenant_id: str, schedule_id: str) -> None:
        now = self.clock.now()
        caller = Caller(tenant_id, operator)
        async with self.db.transaction() as conn:
            repo = ScheduleRepo(conn)
            current = await repo.get(tenant_id, schedule_id, lock=True)
            if current is None:
                raise ScheduleNotFound(f"schedule {schedule_id} not found")
            await repo.delete(tenant_id, schedule_id)
            await repo.delete_runs(tenant_id, schedule_id)
            target = SyncTarget(tenant_id, current.install_id, schedule_id)
            await self.sync.stage(conn, target, now)
            details: dict[str, Any] = {
                **audit.changes({"cron": current.cron}, None),
                "byOperator": True,
            }
            await audit.record(
                conn, caller, "schedule.deleted", "schedule", schedule_id, details, now
            )
        await self.sync.apply(target, now)

    async def set_kill_switch(self, operator: str, tenant_id: str, paused: bool) -> TenantSettings:
        return await self.tenants.update_settings(
            Caller(tenant_id, operator), Given({"schedulesPaused": paused})
        )
