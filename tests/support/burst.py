"""Set up a database with N schedules due at one instant, for fault tests and benchmarks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from extsched.clock import Clock
from extsched.config import Settings
from extsched.ids import new_id
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.services.inputs import Given
from extsched.store.db import Database
from extsched.store.migrate import upgrade
from extsched.store.tables import (
    embedded_schedule,
    tenant_extension_install,
    tenant_extension_schedule,
)
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule_run as run_t

# Yearly, so nothing but the forced occurrence fires during a test.
YEARLY = "0 0 1 1 *"


async def prepare_due(
    url: str, runner_url: str, count: int, clock: Clock, due_at: datetime
) -> dict[str, str]:
    """N schedules of one tenant's install whose next fire time is ``due_at``."""
    db = Database(url)
    try:
        await upgrade(db)
        settings = Settings(
            database_url=url,
            runner_base_url=runner_url,
            max_schedules_per_install=count,
            max_schedules_per_tenant=count,
        )
        svc = Services.build(settings, db, clock)
        ext = await svc.registry.create_extension("bench", "burst")
        manifest = {"api": {"endpoints": [{"method": "POST", "path": "/hit", "handler": "h"}]}}
        digest = hashlib.sha256(b"burst").hexdigest()
        _, [endpoint] = await svc.registry.publish_version(
            ext.id, version="1", content_hash=f"sha256:{digest}", manifest=manifest
        )
        caller = Caller("tenant-burst", "bench")
        view = await svc.installs.install(caller, registry_id=ext.id, version="1")
        for _ in range(count):
            await svc.schedules.create(
                caller, view.install.id, Given({"endpointId": endpoint.id, "cron": YEARLY})
            )
        async with db.transaction() as conn:
            await conn.execute(
                embedded_schedule.update().values(next_fire_for=due_at, fire_at=due_at)
            )
        await svc.close()
        return {"install_id": view.install.id, "tenant_id": caller.tenant_id}
    finally:
        await db.dispose()


async def count_runs(url: str) -> dict[str, int]:
    """Runs by status, across tenants."""
    db = Database(url)
    try:
        async with db.connect() as conn:
            rows = await conn.execute(
                sa.select(run_t.c.status, sa.func.count()).group_by(run_t.c.status)
            )
            return {str(status): int(n) for status, n in rows.all()}
    finally:
        await db.dispose()


async def count_attempts(url: str) -> dict[str, int]:
    """Attempts by outcome (with the error, for those that failed), across tenants."""
    db = Database(url)
    try:
        async with db.connect() as conn:
            rows = await conn.execute(
                sa.select(attempt_t.c.outcome, attempt_t.c.error, sa.func.count()).group_by(
                    attempt_t.c.outcome, attempt_t.c.error
                )
            )
            return {
                f"{outcome}: {error[:80]}" if error else str(outcome): int(n)
                for outcome, error, n in rows.all()
            }
    finally:
        await db.dispose()


def yearly_rows(
    tenant_id: str, install_id: str, endpoint_id: str, now: datetime, payload: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One stored-but-not-due schedule (yearly, 1 January) as its domain and backend rows, for
    filling a database in bulk."""
    sid = new_id()
    nxt = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    schedule = {
        "tenant_id": tenant_id,
        "id": sid,
        "install_id": install_id,
        "endpoint_id": endpoint_id,
        "name": None,
        "cron": "0 0 1 1 *",
        "timezone": "UTC",
        "enabled": True,
        "payload_json": payload,
        "max_attempts": 3,
        "jitter_seconds": 0,
        "runner_schedule_id": None,
        "disabled_reason": None,
        "last_run_at": None,
        "last_run_status": None,
        "last_error": None,
        "last_success_at": None,
        "consecutive_failures": 0,
        "revision": 1,
        "created_at": now,
        "updated_at": now,
    }
    backend = {
        "tenant_id": tenant_id,
        "schedule_id": sid,
        "install_id": install_id,
        "cron": "0 0 1 1 *",
        "timezone": "UTC",
        "jitter_seconds": 0,
        "paused": False,
        "last_fired_for": None,
        "next_fire_for": nxt,
        "fire_at": nxt,
        "updated_at": now,
    }
    return schedule, backend


async def prepare_due_bulk(
    url: str, runner_url: str, count: int, clock: Clock, due_at: datetime, per_tenant: int = 50
) -> list[str]:
    """N schedules across tenants (``per_tenant`` each, one install each) due at ``due_at``,
    written in bulk (a large fleet in seconds); the tenants' ids."""
    db = Database(url)
    try:
        await upgrade(db)
        svc = Services.build(Settings(database_url=url, runner_base_url=runner_url), db, clock)
        ext = await svc.registry.create_extension("bench", "fleet")
        manifest = {"api": {"endpoints": [{"method": "POST", "path": "/hit", "handler": "h"}]}}
        digest = hashlib.sha256(b"fleet").hexdigest()
        version, [endpoint] = await svc.registry.publish_version(
            ext.id, version="1", content_hash=f"sha256:{digest}", manifest=manifest
        )
        await svc.close()
        now = clock.now()
        tenants = [f"fleet-{t:05d}" for t in range((count + per_tenant - 1) // per_tenant)]
        installs, schedules, backend = [], [], []
        for i, tenant in enumerate(tenants):
            install_id = new_id()
            installs.append(
                {
                    "tenant_id": tenant,
                    "id": install_id,
                    "registry_id": ext.id,
                    "version_id": version.id,
                    "enabled": True,
                    "config": {},
                    "granted_caps": [],
                    "secret_envelope": None,
                    "revision": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            for _ in range(min(per_tenant, count - i * per_tenant)):
                schedule, fire = yearly_rows(tenant, install_id, endpoint.id, now)
                fire.update(next_fire_for=due_at, fire_at=due_at)
                schedules.append(schedule)
                backend.append(fire)
        async with db.transaction() as conn:
            await conn.execute(tenant_extension_install.insert(), installs)
        for i in range(0, len(schedules), 5000):
            async with db.transaction() as conn:
                await conn.execute(tenant_extension_schedule.insert(), schedules[i : i + 5000])
                await conn.execute(embedded_schedule.insert(), backend[i : i + 5000])
        return tenants
    finally:
        await db.dispose()
