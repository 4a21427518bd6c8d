"""What runs need at start, read in a few batched statements: their schedules, installs, versions,
endpoints and tenants' kill switches (``load``), or just what says whether those changed
(``freshness``)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.records import Endpoint, Install, Run, Version
from extsched.domain.runs import Freshness, RunContext
from extsched.store.install_repo import to_install
from extsched.store.registry_repo import to_endpoint, to_version
from extsched.store.schedule_repo import to_schedule
from extsched.store.tables import extension_api_endpoint as ep_t
from extsched.store.tables import extension_version as ver_t
from extsched.store.tables import tenant_extension_install as inst_t
from extsched.store.tables import tenant_extension_schedule as sched_t
from extsched.store.tenant_repo import paused_tenants


async def load(conn: AsyncConnection, runs: Sequence[Run]) -> list[RunContext]:
    if not runs:
        return []
    tenants = {r.tenant_id for r in runs}
    schedules = {
        (s.tenant_id, s.id): s
        for s in map(
            to_schedule,
            await conn.execute(
                sched_t.select().where(
                    sched_t.c.tenant_id.in_(tenants),
                    sched_t.c.id.in_({r.schedule_id for r in runs}),
                )
            ),
        )
    }
    installs: dict[tuple[str, str], Install] = {}
    for row in await conn.execute(
        inst_t.select().where(
            inst_t.c.tenant_id.in_(tenants), inst_t.c.id.in_({r.install_id for r in runs})
        )
    ):
        installs[(row.tenant_id, row.id)] = to_install(row)
    version_ids = {i.version_id for i in installs.values()}
    versions: dict[str, Version] = {}
    if version_ids:
        for row in await conn.execute(ver_t.select().where(ver_t.c.id.in_(version_ids))):
            versions[row.id] = to_version(row)
    endpoint_ids = {s.endpoint_id for s in schedules.values()}
    endpoints: dict[str, Endpoint] = {}
    if endpoint_ids:
        for row in await conn.execute(ep_t.select().where(ep_t.c.id.in_(endpoint_ids))):
            endpoints[row.id] = to_endpoint(row)
    paused = await paused_tenants(conn, tenants)
    contexts = []
    for run in runs:
        schedule = schedules.get((run.tenant_id, run.schedule_id))
        install = installs.get((run.tenant_id, run.install_id))
        contexts.append(
            RunContext(
                run=run,
                schedule=schedule,
                install=install,
                version=versions.get(install.version_id) if install else None,
                endpoint=endpoints.get(schedule.endpoint_id) if schedule else None,
                tenant_paused=run.tenant_id in paused,
            )
        )
    return contexts


async def freshness(conn: AsyncConnection, runs: Sequence[Run]) -> dict[tuple[str, str], Freshness]:
    """The current ``Freshness`` of each run's context, by (tenant, run id), in three reads."""
    if not runs:
        return {}
    tenants = {r.tenant_id for r in runs}
    schedules = {
        (t, i): (u, e)
        for t, i, u, e in await conn.execute(
            sa.select(
                sched_t.c.tenant_id, sched_t.c.id, sched_t.c.updated_at, sched_t.c.enabled
            ).where(
                sched_t.c.tenant_id.in_(tenants),
                sched_t.c.id.in_({r.schedule_id for r in runs}),
            )
        )
    }
    installs = {
        (t, i): (u, e, v)
        for t, i, u, e, v in await conn.execute(
            sa.select(
                inst_t.c.tenant_id,
                inst_t.c.id,
                inst_t.c.updated_at,
                inst_t.c.enabled,
                inst_t.c.version_id,
            ).where(inst_t.c.tenant_id.in_(tenants), inst_t.c.id.in_({r.install_id for r in runs}))
        )
    }
    paused = await paused_tenants(conn, tenants)
    return {
        (r.tenant_id, r.id): Freshness(
            schedules.get((r.tenant_id, r.schedule_id)),
            installs.get((r.tenant_id, r.install_id)),
            r.tenant_id in paused,
        )
        for r in runs
    }
