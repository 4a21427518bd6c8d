"""Schedules of an installed extension: CRUD, preview, bulk toggle, run history (SPEC §5).

Validation reports every invalid field at once; conflicts (name, quota, revision) are checked
only after the input is valid. Each change writes the row, an audit entry and a sync intent in
one transaction; the intent is applied to the backend after commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.backends.base import schedule_key
from extsched.clock import Clock
from extsched.domain import cron as cron_rules
from extsched.domain import schedule_rules as rules
from extsched.domain.endpoints import unschedulable_reason
from extsched.domain.records import Endpoint, Install, Run, Schedule, TenantSettings
from extsched.errors import (
    NameTaken,
    QuotaExceeded,
    RevisionConflict,
    ScheduleNotFound,
    ValidationFailed,
)
from extsched.ids import new_id
from extsched.services import audit
from extsched.services.caller import Caller
from extsched.services.inputs import JsonInput, unknown_keys
from extsched.services.installs import check_revision, resolve_install
from extsched.services.sync import SyncService
from extsched.store.db import Database
from extsched.store.pagination import PageRequest, cut_page
from extsched.store.registry_repo import RegistryRepo
from extsched.store.schedule_repo import ScheduleRepo
from extsched.store.tenant_repo import TenantRepo

WRITABLE = (
    "endpointId",
    "cron",
    "timezone",
    "enabled",
    "name",
    "payloadJson",
    "maxAttempts",
    "jitterSeconds",
)
# Output-only fields a client may echo back from a GET; they are ignored, not rejected.
READ_ONLY = frozenset(
    {
        "id",
        "installId",
        "endpointMethod",
        "endpointPath",
        "cronDescription",
        "disabledReason",
        "nextRunAt",
        "lastRunAt",
        "lastRunStatus",
        "lastError",
        "lastSuccessAt",
        "consecutiveFailures",
        "revision",
        "createdAt",
        "updatedAt",
    }
)
ACCEPTED = frozenset(WRITABLE) | READ_ONLY
PREVIEW_FIELDS = ("cron", "timezone", "count")
MAX_PREVIEW_COUNT = 50
DEFAULT_PREVIEW_COUNT = 5


@dataclass(frozen=True)
class ScheduleView:
    schedule: Schedule
    endpoint: Endpoint | None
    next_run_at: datetime | None


@dataclass(frozen=True)
class Occurrence:
    utc: datetime
    local: datetime


@dataclass(frozen=True)
class Preview:
    valid: bool
    field_errors: dict[str, str]
    description: str | None
    occurrences: list[Occurrence]


def audit_fields(s: Schedule) -> dict[str, Any]:
    return {
        "endpointId": s.endpoint_id,
        "name": s.name,
        "cron": s.cron,
        "timezone": s.timezone,
        "enabled": s.enabled,
        "payloadJson": s.payload_json,
        "maxAttempts": s.max_attempts,
        "jitterSeconds": s.jitter_seconds,
        "disabledReason": s.disabled_reason,
    }


def _bulk_enabled(body: Any) -> bool:
    errors = unknown_keys(body, ("enabled",))
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        errors["enabled"] = "enabled must be true or false"
    if errors:
        raise ValidationFailed("the bulk request is invalid", field_errors=errors)
    return bool(enabled)


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
        self,
        conn: AsyncConnection,
        caller: Caller,
        install: Install,
        rows: list[Schedule],
        *,
        paused: bool | None = None,
        endpoints: dict[str, Endpoint] | None = None,
    ) -> list[ScheduleView]:
        """Representations; ``paused`` and ``endpoints`` save the reads when the caller knows."""
        if endpoints is None:
            endpoints = await RegistryRepo(conn).get_endpoints([s.endpoint_id for s in rows])
        if paused is None:
            paused = (await TenantRepo(conn).settings(caller.tenant_id)).schedules_paused
        now = self.clock.now()
        views = []
        for s in rows:
            firing = s.enabled and install.enabled and not paused
            nxt = cron_rules.next_occurrence(s.cron, s.timezone, now) if firing else None
            views.append(ScheduleView(s, endpoints.get(s.endpoint_id), nxt))
        return views

    async def list_page(
        self,
        caller: Caller,
        extension_id: str,
        page: PageRequest,
        *,
        enabled: bool | None = None,
        status: str | None = None,
    ) -> tuple[list[ScheduleView], str | None]:
        async with self.db.connect() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            rows = await ScheduleRepo(conn).list_for_install(
                caller.tenant_id, install.id, page=page, enabled=enabled, status=status
            )
            rows, cursor = cut_page(rows, page, lambda s: (s.created_at, s.id))
            return await self._views(conn, caller, install, rows), cursor

    async def get(self, caller: Caller, extension_id: str, schedule_id: str) -> ScheduleView:
        async with self.db.connect() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            schedule = await self._find(conn, caller, install, schedule_id)
            return (await self._views(conn, caller, install, [schedule]))[0]

    async def _find(
        self,
        conn: AsyncConnection,
        caller: Caller,
        install: Install,
        schedule_id: str,
        *,
        lock: bool = False,
    ) -> Schedule:
        found = await ScheduleRepo(conn).get(caller.tenant_id, schedule_id, lock=lock)
        if found is None or found.install_id != install.id:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")
        return found

    async def runs(
        self, caller: Caller, extension_id: str, schedule_id: str, page: PageRequest
    ) -> tuple[list[Run], str | None]:
        async with self.db.connect() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            await self._find(conn, caller, install, schedule_id)
            rows = await ScheduleRepo(conn).list_runs(caller.tenant_id, schedule_id, page)
        return cut_page(rows, page, lambda r: (r.scheduled_for, r.id))

    # Validation ------------------------------------------------------------------------------------

    async def _endpoint_error(
        self, conn: AsyncConnection, install: Install, endpoint_id: Any
    ) -> tuple[Endpoint | None, str | None]:
        if not isinstance(endpoint_id, str) or not endpoint_id:
            return None, "endpointId is required"
        endpoint = await RegistryRepo(conn).get_endpoint(endpoint_id)
        if endpoint is None or endpoint.version_id != install.version_id:
            return None, "endpoint is not part of the installed version"
        reason = unschedulable_reason(endpoint.method, endpoint.path)
        if reason is not None:
            return endpoint, f"endpoint cannot be scheduled: {reason}"
        return endpoint, None

    async def _validated(
        self,
        conn: AsyncConnection,
        caller: Caller,
        install: Install,
        body: dict[str, Any],
        current: Schedule | None,
    ) -> tuple[dict[str, Any], Endpoint | None]:
        """The new field values, or ValidationFailed listing every broken rule."""
        errors = unknown_keys(body, ACCEPTED)
        values: dict[str, Any] = {}
        creating = current is None

        endpoint: Endpoint | None = None
        if "endpointId" in body or creating:
            endpoint, problem = await self._endpoint_error(conn, install, body.get("endpointId"))
            if problem:
                errors["endpointId"] = problem
            else:
                values["endpoint_id"] = body["endpointId"]
        elif current is not None:
            endpoint = await RegistryRepo(conn).get_endpoint(current.endpoint_id)

        if "cron" in body or creating:
            try:
                values["cron"] = cron_rules.validate(body.get("cron")).expr
            except cron_rules.CronInvalid as exc:
                errors["cron"] = str(exc)

        if "timezone" in body or creating:
            raw_tz = body.get("timezone")
            if raw_tz is None and creating:
                raw_tz = (await TenantRepo(conn).settings(caller.tenant_id)).default_timezone
            try:
                values["timezone"] = rules.canonical_timezone(raw_tz)
            except rules.RuleViolation as exc:
                errors["timezone"] = str(exc)

        checks: list[tuple[str, str, Any]] = [
            ("enabled", "enabled", lambda v: rules.check_bool(v, "enabled")),
            ("name", "name", rules.normalize_name),
            (
                "maxAttempts",
                "max_attempts",
                lambda v: rules.check_int(v, "maxAttempts", rules.MAX_ATTEMPTS_RANGE),
            ),
            (
                "jitterSeconds",
                "jitter_seconds",
                lambda v: rules.check_int(v, "jitterSeconds", rules.JITTER_RANGE),
            ),
        ]
        for field, column, check in checks:
            if field in body:
                try:
                    values[column] = check(body[field])
                except rules.RuleViolation as exc:
                    errors[field] = str(exc)

        payload = (
            body["payloadJson"]
            if "payloadJson" in body
            else (current.payload_json if current else None)
        )
        if "payloadJson" in body or "endpointId" in body:
            try:
                rules.check_payload(payload, endpoint.method if endpoint else None)
                if "payloadJson" in body:
                    values["payload_json"] = payload
            except rules.RuleViolation as exc:
                errors["payloadJson"] = str(exc)

        if errors:
            raise ValidationFailed("the schedule is invalid", field_errors=errors)
        return values, endpoint

    async def _lock_tenant(self, conn: AsyncConnection, tenant_id: str) -> TenantSettings:
        """Serialize schedule creation per tenant, so quota counts cannot race (PostgreSQL).

        SQLite needs nothing more: BEGIN IMMEDIATE already serializes writers.
        """
        repo = TenantRepo(conn)
        await repo.ensure_settings_row(tenant_id, self.clock.now())
        return await repo.settings(tenant_id, lock=True)

    # Writes ----------------------------------------------------------------------------------------

    async def create(self, caller: Caller, extension_id: str, body: JsonInput) -> ScheduleView:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            values, endpoint = await self._validated(conn, caller, install, body.value(), None)
            assert endpoint is not None
            paused = (await self._lock_tenant(conn, caller.tenant_id)).schedules_paused
            repo = ScheduleRepo(conn)
            name = values.get("name")
            if name is not None and await repo.name_taken(caller.tenant_id, install.id, name):
                raise _name_taken(name)
            if await repo.count_for_install(caller.tenant_id, install.id) >= self.max_per_install:
                raise QuotaExceeded(
                    f"an install may have at most {self.max_per_install} schedules",
                    extra={"limit": self.max_per_install, "scope": "install"},
                )
            if await repo.count_for_tenant(caller.tenant_id) >= self.max_per_tenant:
                raise QuotaExceeded(
                    f"a tenant may have at most {self.max_per_tenant} schedules",
                    extra={"limit": self.max_per_tenant, "scope": "tenant"},
                )
            schedule_id = new_id()
            schedule = Schedule(
                tenant_id=caller.tenant_id,
                id=schedule_id,
                install_id=install.id,
                endpoint_id=values["endpoint_id"],
                name=name,
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
            try:
                await repo.insert(schedule)
            except IntegrityError as exc:
                raise _name_taken(name or "") from exc
            await self.sync.stage(
                conn,
                caller.tenant_id,
                install.id,
                schedule.id,
                now,
                known=(schedule, install, paused),
            )
            await audit.record(
                conn,
                caller,
                "schedule.created",
                "schedule",
                schedule.id,
                audit.changes(None, audit_fields(schedule)),
                now,
            )
            views = await self._views(
                conn, caller, install, [schedule], paused=paused, endpoints={endpoint.id: endpoint}
            )
            view = views[0]
        await self.sync.apply(caller.tenant_id, install.id, schedule.id)
        return view

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
            current = await self._find(conn, caller, install, schedule_id, lock=True)
            values, endpoint = await self._validated(conn, caller, install, body.value(), current)
            if (
                values.get("enabled") is True
                and not current.enabled
                and "endpoint_id" not in values
            ):
                # Re-enabling must not revive a schedule whose endpoint left the installed version.
                _, problem = await self._endpoint_error(conn, install, current.endpoint_id)
                if problem:
                    raise ValidationFailed(
                        "the schedule is invalid", field_errors={"endpointId": problem}
                    )
            check_revision(current.revision, expected_revision)
            paused = (await TenantRepo(conn).settings(caller.tenant_id)).schedules_paused
            repo = ScheduleRepo(conn)
            name = values.get("name")
            if name is not None and await repo.name_taken(
                caller.tenant_id, install.id, name, except_id=current.id
            ):
                raise _name_taken(name)
            if values.get("enabled") is True or "endpoint_id" in values:
                values["disabled_reason"] = None
            updated = replace(current, **values)
            changed = audit.changes(audit_fields(current), audit_fields(updated))
            if changed["before"]:
                try:
                    ok = await repo.update(
                        caller.tenant_id, current.id, revision=current.revision, now=now, **values
                    )
                except IntegrityError as exc:
                    raise _name_taken(name or "") from exc
                if not ok:  # the row moved on between read and write (the row lock prevents it)
                    raise RevisionConflict("the schedule changed meanwhile; reload and retry")
                updated = replace(updated, revision=current.revision + 1, updated_at=now)
                await self.sync.stage(
                    conn,
                    caller.tenant_id,
                    install.id,
                    current.id,
                    now,
                    known=(updated, install, paused),
                )
                await audit.record(
                    conn, caller, "schedule.updated", "schedule", current.id, changed, now
                )
            known_endpoints = {endpoint.id: endpoint} if endpoint is not None else None
            views = await self._views(
                conn, caller, install, [updated], paused=paused, endpoints=known_endpoints
            )
            view = views[0]
        if changed["before"]:
            await self.sync.apply(caller.tenant_id, install.id, current.id)
        return view

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
            current = await self._find(conn, caller, install, schedule_id, lock=True)
            check_revision(current.revision, expected_revision)
            repo = ScheduleRepo(conn)
            await repo.delete(caller.tenant_id, current.id)
            await repo.delete_runs(caller.tenant_id, current.id)
            await self.sync.stage(conn, caller.tenant_id, install.id, current.id, now)
            await audit.record(
                conn,
                caller,
                "schedule.deleted",
                "schedule",
                current.id,
                audit.changes(audit_fields(current), None),
                now,
            )
        await self.sync.apply(caller.tenant_id, install.id, current.id)

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
            changed: list[str] = []
            for s in rows:
                if s.enabled == enabled:
                    continue
                if enabled:
                    _, problem = await self._endpoint_error(conn, install, s.endpoint_id)
                    if problem:
                        continue
                extra = {"disabled_reason": None} if enabled else {}
                await repo.update(
                    caller.tenant_id, s.id, revision=s.revision, now=now, enabled=enabled, **extra
                )
                await self.sync.stage(conn, caller.tenant_id, install.id, s.id, now)
                changed.append(s.id)
            if changed:
                await audit.record(
                    conn,
                    caller,
                    "schedules.bulk_updated",
                    "install",
                    install.id,
                    {
                        **audit.changes({"enabled": not enabled}, {"enabled": enabled}),
                        "scheduleIds": changed,
                    },
                    now,
                )
        for schedule_id in changed:
            await self.sync.apply(caller.tenant_id, install.id, schedule_id)
        return len(changed)

    # Preview ---------------------------------------------------------------------------------------

    async def preview(self, caller: Caller, extension_id: str, body: JsonInput) -> Preview:
        """Validate cron and time zone without saving; invalid input is a result, not an error."""
        async with self.db.connect() as conn:
            await resolve_install(conn, caller.tenant_id, extension_id)
            raw = body.value()
            errors = unknown_keys(raw, PREVIEW_FIELDS)
            count = raw.get("count", DEFAULT_PREVIEW_COUNT)
            if (
                isinstance(count, bool)
                or not isinstance(count, int)
                or not 1 <= count <= MAX_PREVIEW_COUNT
            ):
                errors["count"] = f"count must be a whole number from 1 to {MAX_PREVIEW_COUNT}"
            if errors:
                raise ValidationFailed("the preview request is invalid", field_errors=errors)
            raw_tz = raw.get("timezone")
            if raw_tz is None:
                raw_tz = (await TenantRepo(conn).settings(caller.tenant_id)).default_timezone
        return preview(raw.get("cron"), raw_tz, self.clock.now(), count)


def preview(raw_cron: Any, raw_tz: Any, now: datetime, count: int) -> Preview:
    errors: dict[str, str] = {}
    expr = tz = None
    try:
        expr = cron_rules.validate(raw_cron).expr
    except cron_rules.CronInvalid as exc:
        errors["cron"] = str(exc)
    try:
        tz = rules.canonical_timezone(raw_tz)
    except rules.RuleViolation as exc:
        errors["timezone"] = str(exc)
    if errors or expr is None or tz is None:
        description = cron_rules.describe(expr) if expr else None
        return Preview(False, errors, description, [])
    zone = ZoneInfo(tz)
    found = cron_rules.occurrences(expr, tz, now, count)
    return Preview(
        True,
        {},
        cron_rules.describe(expr),
        [Occurrence(utc=o, local=o.astimezone(zone)) for o in found],
    )


def _name_taken(name: str) -> NameTaken:
    message = f"a schedule named '{name}' already exists for this extension"
    return NameTaken(message, field_errors={"name": message})
