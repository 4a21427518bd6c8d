"""Schedules of an installed extension: CRUD, bulk toggle, run history (SPEC §5).

Each public method reads the clock once and owns its transaction. Validation reports every
invalid field at once (``domain.schedule_input``); conflicts (name, quota, revision) come after.
Each change writes the row, an audit entry and the backend's change (in the same transaction on
the embedded backend, else a sync intent applied after commit).

A create reads the install, the endpoint and the tenant's settings (its row locked, so quotas
cannot race) in one statement (``store.schedule_intake``), then writes the row, the backend's entry
and the audit entry and counts the schedules there were before, in one statement on PostgreSQL
(four on SQLite); a quota exceeded raises then, which rolls the writes back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.backends.base import schedule_key
from extsched.clock import Clock
from extsched.domain import cron as cron_rules
from extsched.domain import schedule_rules as rules
from extsched.domain.json_rules import unknown_keys
from extsched.domain.paging import PageRequest, cut_page
from extsched.domain.records import Endpoint, Install, Run, Schedule
from extsched.domain.runs import firing
from extsched.domain.schedule_input import audit_fields, check, endpoint_problem
from extsched.errors import QuotaExceeded, RevisionConflict, ScheduleNotFound, ValidationFailed
from extsched.ids import new_id
from extsched.services import audit
from extsched.services.caller import Caller
from extsched.services.inputs import JsonInput
from extsched.services.installs import check_revision, not_installed, resolve_install
from extsched.services.sync import Known, SyncService
from extsched.store.db import Database
from extsched.store.intent_repo import SyncTarget
from extsched.store.registry_repo import RegistryRepo
from extsched.store.schedule_intake import intake
from extsched.store.schedule_repo import ScheduleRepo
from extsched.store.tenant_repo import TenantRepo, audit_row


@dataclass(frozen=True)
class ScheduleView:
    schedule: Schedule
    endpoint: Endpoint | None
    next_run_at: datetime | None


def view_of(
    schedule: Schedule,
    endpoint: Endpoint | None,
    install: Install,
    tenant_paused: bool,
    now: datetime,
) -> ScheduleView:
    """The schedule as the API shows it: a schedule that does not fire has no next run."""
    fires = firing(schedule.enabled, install.enabled, tenant_paused)
    nxt = cron_rules.next_occurrence(schedule.cron, schedule.timezone, now) if fires else None
    return ScheduleView(schedule, endpoint, nxt)


class ScheduleService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sync: SyncService,
        *,
        max_per_install: int = 50,
        max_per_tenant: int = 500,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sync = sync
        self.max_per_install = max_per_install
        self.max_per_tenant = max_per_tenant

    # Reads ---------------------------------------------------------------------------------------

    async def _views(
        self, conn: AsyncConnection, install: Install, rows: list[Schedule], now: datetime
    ) -> list[ScheduleView]:
        endpoints = await RegistryRepo(conn).get_endpoints([s.endpoint_id for s in rows])
        paused = (await TenantRepo(conn).settings(install.tenant_id)).schedules_paused
        return [view_of(s, endpoints.get(s.endpoint_id), install, paused, now) for s in rows]

    async def list_page(
        self,
        caller: Caller,
        extension_id: str,
        page: PageRequest,
        *,
        enabled: bool | None = None,
        status: str | None = None,
    ) -> tuple[list[ScheduleView], str | None]:
        now = self.clock.now()
        async with self.db.connect() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            rows = await ScheduleRepo(conn).list_for_install(
                caller.tenant_id, install.id, page=page, enabled=enabled, status=status
            )
            rows, cursor = cut_page(rows, page, lambda s: (s.created_at, s.id))
            return await self._views(conn, install, rows, now), cursor

    async def get(self, caller: Caller, extension_id: str, schedule_id: str) -> ScheduleView:
        now = self.clock.now()
        async with self.db.connect() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            schedule = await _find(conn, install, schedule_id)
            return (await self._views(conn, install, [schedule], now))[0]

    async def runs(
        self, caller: Caller, extension_id: str, schedule_id: str, page: PageRequest
    ) -> tuple[list[Run], str | None]:
        async with self.db.connect() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            await _find(conn, install, schedule_id)
            rows = await ScheduleRepo(conn).list_runs(caller.tenant_id, schedule_id, page)
        return cut_page(rows, page, lambda r: (r.scheduled_for, r.id))

    # Writes ----------------------------------------------------------------------------------------

    async def create(self, caller: Caller, extension_id: str, body: JsonInput) -> ScheduleView:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            # The body is read before the install is known (one statement reads both), but
            # judged after: an extension that is not installed is a 404 whatever the body.
            unreadable: ValidationFailed | None = None
            try:
                raw = body.value()
            except ValidationFailed as refused:
                raw, unreadable = {}, refused
            raw_endpoint = raw.get("endpointId") if isinstance(raw, dict) else None
            found = await intake(
                conn,
                caller.tenant_id,
                extension_id,
                raw_endpoint if isinstance(raw_endpoint, str) else None,
                now,
            )
            install, settings = found.install, found.settings
            if install is None:
                raise not_installed(extension_id)
            if unreadable is not None:
                raise unreadable
            checked = check(
                raw,
                install=install,
                current=None,
                named_endpoint=found.endpoint,
                current_endpoint=None,
                default_timezone=settings.default_timezone,
            )
            values = checked.values
            repo = ScheduleRepo(conn)
            schedule_id = new_id()
            schedule = Schedule(
                tenant_id=caller.tenant_id,
                id=schedule_id,
                install_id=install.id,
                endpoint_id=values["endpoint_id"],
                name=values.get("name"),
                cron=values["cron"],
                timezone=values["timezone"],
                enabled=values.get("enabled", True),
                payload_json=values.get("payload_json"),
                max_attempts=values.get("max_attempts", rules.DEFAULT_MAX_ATTEMPTS),
                jitter_seconds=values.get("jitter_seconds", rules.DEFAULT_JITTER_SECONDS),
                runner_schedule_id=schedule_key(caller.tenant_id, install.id, schedule_id),
                disabled_reason=None,
                last_run_at=None,
                last_run_status=None,
                last_error=None,
                last_success_at=None,
                consecutive_failures=0,
                revision=1,
                created_at=now,
                updated_at=now,
            )
            target = SyncTarget(caller.tenant_id, install.id, schedule.id)
            known = Known(schedule, install, settings.schedules_paused)
            details = audit.changes(None, audit_fields(schedule))
            entry = audit.entry(caller, "schedule.created", "schedule", schedule.id, details, now)
            before = await repo.insert(
                schedule, self.sync.staged_for_new(target, now, known), audit_row(entry)
            )
            self._check_quota(before.install_schedules, before.tenant_schedules)
        await self.sync.apply(target, now)
        return view_of(schedule, checked.endpoint, install, settings.schedules_paused, now)

    def _check_quota(self, in_install: int, in_tenant: int) -> None:
        if in_install >= self.max_per_install:
            raise QuotaExceeded(
                f"an install may have at most {self.max_per_install} schedules",
                extra={"limit": self.max_per_install, "scope": "install"},
            )
        if in_tenant >= self.max_per_tenant:
            raise QuotaExceeded(
                f"a tenant may have at most {self.max_per_tenant} schedules",
                extra={"limit": self.max_per_tenant, "scope": "tenant"},
            )

    async def update(
        self,
        caller: Caller,
        extension_id: str,
        schedule_id: str,
        body: JsonInput,
        expected_revision: int | None = None,
    ) -> ScheduleView:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            current = await _find(conn, install, schedule_id, lock=True)
            raw = body.value()
            registry = RegistryRepo(conn)
            named = await _named_endpoint(conn, raw)
            current_endpoint = (
                named
                if named is not None and named.id == current.endpoint_id
                else await registry.get_endpoint(current.endpoint_id)
            )
            checked = check(
                raw,
                install=install,
                current=current,
                named_endpoint=named,
                current_endpoint=current_endpoint,
                default_timezone=None,
            )
            check_revision(current.revision, expected_revision)
            paused = (await TenantRepo(conn).settings(caller.tenant_id)).schedules_paused
            updated = replace(current, **checked.values)
            changed = audit.changes(audit_fields(current), audit_fields(updated))
            target = SyncTarget(caller.tenant_id, install.id, current.id)
            if changed["before"]:
                repo = ScheduleRepo(conn)
                if not await repo.update(
                    caller.tenant_id,
                    current.id,
                    revision=current.revision,
                    now=now,
                    **checked.values,
                ):  # the row moved on between read and write (the row lock prevents it)
                    raise RevisionConflict("the schedule changed meanwhile; reload and retry")
                updated = replace(updated, revision=current.revision + 1, updated_at=now)
                await self.sync.stage(conn, target, now, Known(updated, install, paused))
                await audit.record(
                    conn, caller, "schedule.updated", "schedule", current.id, changed, now
                )
        if changed["before"]:
            await self.sync.apply(target, now)
        return view_of(updated, checked.endpoint, install, paused, now)

    async def delete(
        self,
        caller: Caller,
        extension_id: str,
        schedule_id: str,
        expected_revision: int | None = None,
    ) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            current = await _find(conn, install, schedule_id, lock=True)
            check_revision(current.revision, expected_revision)
            repo = ScheduleRepo(conn)
            await repo.delete(caller.tenant_id, current.id)
            await repo.delete_runs(caller.tenant_id, current.id)
            target = SyncTarget(caller.tenant_id, install.id, current.id)
            await self.sync.stage(conn, target, now)
            await audit.record(
                conn,
                caller,
                "schedule.deleted",
                "schedule",
                current.id,
                audit.changes(audit_fields(current), None),
                now,
            )
        await self.sync.apply(target, now)

    async def bulk(self, caller: Caller, extension_id: str, body: JsonInput) -> int:
        """Enable or disable every schedule of the install; returns how many changed state.

        Enabling skips schedules whose endpoint is no longer schedulable in the installed version:
        they would only fail at run time.
        """
        now = self.clock.now()
        async with self.db.transaction() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            enabled = _bulk_enabled(body.value())
            repo = ScheduleRepo(conn)
            rows = await repo.list_for_install(caller.tenant_id, install.id, lock=True)
            endpoints = await RegistryRepo(conn).get_endpoints([s.endpoint_id for s in rows])
            changed: list[SyncTarget] = []
            for s in rows:
                if s.enabled == enabled:
                    continue
                if enabled and endpoint_problem(install, endpoints.get(s.endpoint_id)):
                    continue
                extra = {"disabled_reason": None} if enabled else {}
                await repo.update(
                    caller.tenant_id, s.id, revision=s.revision, now=now, enabled=enabled, **extra
                )
                target = SyncTarget(caller.tenant_id, install.id, s.id)
                await self.sync.stage(conn, target, now)
                changed.append(target)
            if changed:
                await audit.record(
                    conn,
                    caller,
                    "schedules.bulk_updated",
                    "install",
                    install.id,
                    {
                        **audit.changes({"enabled": not enabled}, {"enabled": enabled}),
                        "scheduleIds": [t.schedule_id for t in changed],
                    },
                    now,
                )
        await self.sync.apply_all(changed)
        return len(changed)


async def _find(
    conn: AsyncConnection, install: Install, schedule_id: str, *, lock: bool = False
) -> Schedule:
    found = await ScheduleRepo(conn).get(install.tenant_id, schedule_id, lock=lock)
    if found is None or found.install_id != install.id:
        raise ScheduleNotFound(f"schedule {schedule_id} not found")
    return found


async def _named_endpoint(conn: AsyncConnection, body: Any) -> Endpoint | None:
    """The endpoint a body's ``endpointId`` names, if it names one that exists."""
    raw = body.get("endpointId") if isinstance(body, dict) else None
    if not isinstance(raw, str) or not raw:
        return None
    return await RegistryRepo(conn).get_endpoint(raw)


def _bulk_enabled(body: Any) -> bool:
    errors = unknown_keys(body, ("enabled",))
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        errors["enabled"] = "enabled must be true or false"
    if errors:
        raise ValidationFailed("the bulk request is invalid", field_errors=errors)
    return bool(enabled)
