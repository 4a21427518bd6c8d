"""Set up a database with N schedules due right now, for multi-process tests and benchmarks."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa

from extsched.clock import Clock
from extsched.config import Settings
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.services.inputs import Given
from extsched.store.db import Database
from extsched.store.migrate import upgrade
from extsched.store.tables import embedded_schedule
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
