"""Install lifecycle (SPEC §6): version update with remap, re-install, uninstall, tenant deletion.

Every database change happens in one transaction with its audit entry and sync intents; backend
changes follow after commit. Uninstall and tenant deletion are sequences of idempotent steps, so an
interrupted one is finished by running it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.backends.base import KEY_PREFIX, JobRunner, schedule_key
from extsched.clock import Clock
from extsched.domain.records import Install, Version
from extsched.domain.remap import RemapPlan, ScheduleRef, TargetEndpoint, plan_remap
from extsched.errors import (
    AlreadyExists,
    ExtensionNotInstalled,
    ScheduleRemapFailed,
    ValidationFailed,
)
from extsched.services import audit
from extsched.services.caller import Caller
from extsched.services.installs import InstallService, InstallView, check_revision
from extsched.services.sync import SyncService
from extsched.store.db import Database
from extsched.store.install_repo import InstallRepo
from extsched.store.intent_repo import IntentRepo, SyncTarget
from extsched.store.registry_repo import RegistryRepo
from extsched.store.run_repo import RunRepo
from extsched.store.schedule_repo import ScheduleRepo
from extsched.store.tenant_repo import TenantRepo

MISSING_AFTER_UPDATE = "endpoint_missing_after_update"


@dataclass(frozen=True)
class RemapAnalysis:
    install: Install
    target: Version
    plan: RemapPlan


def missing_body(plan: RemapPlan) -> list[dict[str, Any]]:
    return [
        {"scheduleId": s.schedule_id, "name": s.name, "method": s.method, "path": s.path}
        for s in plan.missing
    ]


class LifecycleService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        installs: InstallService,
        sync: SyncService,
        backend: JobRunner,
    ) -> None:
        self.db = db
        self.clock = clock
        self.installs = installs
        self.sync = sync
        self.backend = backend

    # Update ----------------------------------------------------------------------------------------

    async def _analyse(
        self,
        conn: AsyncConnection,
        caller: Caller,
        registry_id: str,
        version: str,
        *,
        materialize: bool,
        lock: bool,
        now: datetime,
    ) -> RemapAnalysis:
        install = await InstallRepo(conn).find_by_registry(caller.tenant_id, registry_id, lock=lock)
        if install is None:
            raise ExtensionNotInstalled(f"extension {registry_id} is not installed for this tenant")
        registry = RegistryRepo(conn)
        target = await registry.find_version(registry_id, version)
        if target is None:
            raise ValidationFailed(field_errors={"version": f"no version {version}"})
        if materialize:
            rows = await registry.materialize_endpoints(target, now)
            endpoints = [TargetEndpoint(e.id, e.method, e.path) for e in rows]
        else:
            rows = await registry.list_endpoints(target.id)
            endpoints = [TargetEndpoint(e.id, e.method, e.path) for e in rows] or [
                TargetEndpoint(None, e["method"], e["path"]) for e in target.api_endpoints
            ]
        schedules = await ScheduleRepo(conn).list_for_install(
            caller.tenant_id, install.id, lock=lock
        )
        current = await registry.get_endpoints([s.endpoint_id for s in schedules])
        refs = [
            ScheduleRef(
                s.id,
                s.name,
                s.endpoint_id,
                current[s.endpoint_id].method if s.endpoint_id in current else None,
                current[s.endpoint_id].path if s.endpoint_id in current else None,
            )
            for s in schedules
        ]
        return RemapAnalysis(install, target, plan_remap(refs, endpoints))

    async def preview_update(self, caller: Caller, registry_id: str, version: str) -> RemapPlan:
        now = self.clock.now()
        async with self.db.connect() as conn:
            analysis = await self._analyse(
                conn, caller, registry_id, version, materialize=False, lock=False, now=now
            )
        return analysis.plan

    async def update(
        self,
        caller: Caller,
        registry_id: str,
        version: str,
        *,
        disable_missing: bool = False,
        expected_revision: int | None = None,
    ) -> InstallView:
        """Move the install to ``version``, re-pointing every schedule; all or nothing."""
        now = self.clock.now()
        touched: list[str] = []
        async with self.db.transaction() as conn:
            analysis = await self._analyse(
                conn, caller, registry_id, version, materialize=True, lock=True, now=now
            )
            install, target, plan = analysis.install, analysis.target, analysis.plan
            check_revision(install.revision, expected_revision)
            if install.version_id == target.id:
                return InstallView(install, target)
            if plan.blocked and not disable_missing:
                raise ScheduleRemapFailed(
                    f"{len(plan.missing)} schedule(s) have no matching endpoint in version {version}",
                    extra={"missing": missing_body(plan)},
                )
            schedules = ScheduleRepo(conn)
            current = {
                s.id: s for s in await schedules.list_for_install(caller.tenant_id, install.id)
            }
            for r in plan.remapped:
                s = current[r.schedule.schedule_id]
                if r.to_endpoint_id != s.endpoint_id:
                    await schedules.update(
                        caller.tenant_id,
                        s.id,
                        revision=s.revision,
                        now=now,
                        endpoint_id=r.to_endpoint_id,
                    )
                    touched.append(s.id)
            for m in plan.missing:
                s = current[m.schedule_id]
                await schedules.update(
                    caller.tenant_id,
                    s.id,
                    revision=s.revision,
                    now=now,
                    enabled=False,
                    disabled_reason=MISSING_AFTER_UPDATE,
                )
                touched.append(s.id)
            for schedule_id in touched:
                target_ = SyncTarget(caller.tenant_id, install.id, schedule_id)
                await self.sync.stage(conn, target_, now)
            old = await RegistryRepo(conn).get_version(install.version_id)
            await InstallRepo(conn).update(
                caller.tenant_id, install.id, now=now, version_id=target.id
            )
            await audit.record(
                conn,
                caller,
                "install.updated",
                "install",
                install.id,
                {
                    **audit.changes(
                        {"version": old.version if old else None},
                        {"version": target.version},
                    ),
                    "remapped": [
                        {
                            "scheduleId": r.schedule.schedule_id,
                            "fromEndpointId": r.schedule.endpoint_id,
                            "toEndpointId": r.to_endpoint_id,
                        }
                        for r in plan.remapped
                    ],
                    "disabled": [m.schedule_id for m in plan.missing],
                },
                now,
            )
            fresh = await InstallRepo(conn).get(caller.tenant_id, install.id)
            assert fresh is not None
            view = InstallView(fresh, target)
        await self.sync.apply_all([SyncTarget(caller.tenant_id, install.id, s) for s in touched])
        return view

    async def install(
        self,
        caller: Caller,
        *,
        registry_id: str,
        version: str,
        config: dict[str, str] | None = None,
        granted_caps: list[str] | None = None,
    ) -> tuple[InstallView, bool]:
        """Install; over an existing install of another version this is an update (remap and
        all). Returns the install and whether it was created."""
        async with self.db.connect() as conn:
            existing = await InstallRepo(conn).find_by_registry(caller.tenant_id, registry_id)
            current = (
                await RegistryRepo(conn).get_version(existing.version_id) if existing else None
            )
        if existing is None or current is None:
            view = await self.installs.install(
                caller,
                registry_id=registry_id,
                version=version,
                config=config,
                granted_caps=granted_caps,
            )
            return view, True
        if current.version == version:
            raise AlreadyExists(
                f"version {version} is already installed", extra={"installId": existing.id}
            )
        return await self.update(caller, registry_id, version), False

    # Uninstall -------------------------------------------------------------------------------------

    async def uninstall(self, caller: Caller, registry_id: str) -> None:
        """Stop, then remove backend schedules, schedule rows, runs and the install, in that
        order. Each step is idempotent; calling again after an interruption finishes the job."""
        async with self.db.connect() as conn:
            install = await InstallRepo(conn).find_by_registry(caller.tenant_id, registry_id)
        if install is None:
            return
        await self.uninstall_steps(caller, install)

    async def uninstall_steps(
        self, caller: Caller, install: Install, *, stop_after: int = 4
    ) -> None:
        """The steps, numbered; ``stop_after`` exists so tests can interrupt between them."""
        steps = (
            self._stop_firing,
            self._delete_backend,
            self._delete_schedules,
            self._delete_runs,
            self._delete_install,
        )
        now = self.clock.now()
        for step in steps[: stop_after + 1]:
            await step(caller, install, now)

    async def _stop_firing(self, caller: Caller, install: Install, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await InstallRepo(conn).update(caller.tenant_id, install.id, now=now, enabled=False)

    async def _delete_backend(self, caller: Caller, install: Install, now: datetime) -> None:
        prefix = schedule_key(caller.tenant_id, install.id, "")
        for key in await self.backend.list_keys(prefix):
            await self.backend.delete(key)

    async def _delete_schedules(self, caller: Caller, install: Install, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await IntentRepo(conn).delete_for_install(caller.tenant_id, install.id)
            await ScheduleRepo(conn).delete_for_install(caller.tenant_id, install.id)

    async def _delete_runs(self, caller: Caller, install: Install, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await RunRepo(conn).delete_for_install(caller.tenant_id, install.id)

    async def _delete_install(self, caller: Caller, install: Install, now: datetime) -> None:
        async with self.db.transaction() as conn:
            if await InstallRepo(conn).get(caller.tenant_id, install.id) is None:
                return
            await InstallRepo(conn).delete(caller.tenant_id, install.id)
            await audit.record(
                conn,
                caller,
                "install.uninstalled",
                "install",
                install.id,
                audit.changes({"registryId": install.registry_id}, None),
                now,
            )

    # Tenant deletion -------------------------------------------------------------------------------

    async def delete_tenant(self, tenant_id: str, actor: str) -> int:
        """Uninstall everything of the tenant, then its settings and audit log. Returns installs."""
        caller = Caller(tenant_id, actor)
        async with self.db.connect() as conn:
            installs = await InstallRepo(conn).list(tenant_id)
        for install in installs:
            await self.uninstall_steps(caller, install)
        for key in await self.backend.list_keys(f"{KEY_PREFIX}:{tenant_id}:"):
            await self.backend.delete(key)
        async with self.db.transaction() as conn:
            # What uninstalling each install left (none if every step finished), then the rest.
            await RunRepo(conn).delete_tenant(tenant_id)
            await IntentRepo(conn).delete_tenant(tenant_id)
            await ScheduleRepo(conn).delete_tenant(tenant_id)
            await InstallRepo(conn).delete_tenant(tenant_id)
            await TenantRepo(conn).delete_tenant(tenant_id)
        return len(installs)
