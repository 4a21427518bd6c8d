"""Tenant-wide settings (default time zone, the kill switch) and the audit log."""

from __future__ import annotations

from typing import Any

from extsched.clock import Clock
from extsched.domain import schedule_rules as rules
from extsched.domain.json_rules import unknown_keys
from extsched.domain.paging import PageRequest, cut_page
from extsched.domain.records import AuditEntry, TenantSettings
from extsched.errors import ValidationFailed
from extsched.services import audit
from extsched.services.caller import Caller
from extsched.services.inputs import JsonInput
from extsched.services.sync import SyncService
from extsched.store.db import Database
from extsched.store.intent_repo import SyncTarget
from extsched.store.schedule_repo import ScheduleRepo
from extsched.store.tenant_repo import TenantRepo


def _fields(s: TenantSettings) -> dict[str, Any]:
    return {"defaultTimezone": s.default_timezone, "schedulesPaused": s.schedules_paused}


class TenantService:
    def __init__(self, db: Database, clock: Clock, sync: SyncService) -> None:
        self.db = db
        self.clock = clock
        self.sync = sync

    async def settings(self, caller: Caller) -> TenantSettings:
        async with self.db.connect() as conn:
            return await TenantRepo(conn).settings(caller.tenant_id)

    async def update_settings(self, caller: Caller, body: JsonInput) -> TenantSettings:
        """Change the default time zone and/or the kill switch; pausing stops every schedule."""
        raw = body.value()
        errors = unknown_keys(raw, ("defaultTimezone", "schedulesPaused"))
        changes: dict[str, Any] = {}
        if "defaultTimezone" in raw:
            try:
                changes["default_timezone"] = rules.canonical_timezone(raw["defaultTimezone"])
            except rules.RuleViolation as exc:
                errors["defaultTimezone"] = str(exc)
        if "schedulesPaused" in raw:
            try:
                changes["schedules_paused"] = rules.check_bool(
                    raw["schedulesPaused"], "schedulesPaused"
                )
            except rules.RuleViolation as exc:
                errors["schedulesPaused"] = str(exc)
        if errors:
            raise ValidationFailed("the settings are invalid", field_errors=errors)
        now = self.clock.now()
        resync: list[SyncTarget] = []
        async with self.db.transaction() as conn:
            repo = TenantRepo(conn)
            before = await repo.lock_settings(caller.tenant_id, now)
            after = TenantSettings(
                caller.tenant_id,
                changes.get("default_timezone", before.default_timezone),
                changes.get("schedules_paused", before.schedules_paused),
            )
            diff = audit.changes(_fields(before), _fields(after))
            if diff["before"]:
                await repo.save_settings(after, now)
                await audit.record(
                    conn, caller, "tenant.settings_updated", "tenant", caller.tenant_id, diff, now
                )
            if before.schedules_paused != after.schedules_paused:
                schedules = ScheduleRepo(conn)
                for s in await schedules.list_for_tenant(caller.tenant_id):
                    target = SyncTarget(caller.tenant_id, s.install_id, s.id)
                    await self.sync.stage(conn, target, now)
                    resync.append(target)
        await self.sync.apply_all(resync)
        return after

    async def audit(self, caller: Caller, page: PageRequest) -> tuple[list[AuditEntry], str | None]:
        async with self.db.connect() as conn:
            rows = await TenantRepo(conn).list_audit(caller.tenant_id, page)
        return cut_page(rows, page, lambda a: (a.created_at, a.id))
