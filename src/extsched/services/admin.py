"""Platform operators' tools across tenants: list schedules, delete one, kill switch."""

from __future__ import annotations

from typing import Any

from extsched.clock import Clock
from extsched.domain.records import Schedule, TenantSettings
from extsched.errors import ScheduleNotFound
from extsched.services import audit
from extsched.services.caller import Caller
from extsched.services.inputs import Given
from extsched.services.sync import SyncService
from extsched.services.tenants import TenantService
from extsched.store.db import Database
from extsched.store.pagination import PageRequest, cut_page
from extsched.store.schedule_repo import ScheduleRepo, to_schedule
from extsched.store.tables import tenant_extension_schedule as sched_t


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
        q = sched_t.select()
        if tenant_id is not None:
            q = q.where(sched_t.c.tenant_id == tenant_id)
        if enabled is not None:
            q = q.where(sched_t.c.enabled == enabled)
        if page.after is not None:
            at, last_id = page.after
            q = q.where(
                (sched_t.c.created_at > at)
                | ((sched_t.c.created_at == at) & (sched_t.c.id > last_id))
            )
        q = q.order_by(sched_t.c.created_at, sched_t.c.id).limit(page.limit + 1)
        async with self.db.connect() as conn:
            rows = [to_schedule(r) for r in await conn.execute(q)]
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
            await self.sync.stage(conn, tenant_id, current.install_id, schedule_id, now)
            details: dict[str, Any] = {
                **audit.changes({"cron": current.cron}, None),
                "byOperator": True,
            }
            await audit.record(
                conn, caller, "schedule.deleted", "schedule", schedule_id, details, now
            )
        await self.sync.apply(tenant_id, current.install_id, schedule_id)

    async def set_kill_switch(self, operator: str, tenant_id: str, paused: bool) -> TenantSettings:
        return await self.tenants.update_settings(
            Caller(tenant_id, operator), Given({"schedulesPaused": paused})
        )
