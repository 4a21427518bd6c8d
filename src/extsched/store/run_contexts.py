"""What runs need at start, read in two statements: their schedules with their endpoints, and
their installs with the installed version's content hash and the tenant's kill switch (``load``);
or just what says whether those changed (``freshness``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.records import Endpoint, Install, Run, Schedule
from extsched.domain.runs import Freshness, RunContext
from extsched.store.install_repo import to_install
from extsched.store.schedule_repo import to_schedule
from extsched.store.tables import extension_api_endpoint as ep_t
from extsched.store.tables import extension_version as ver_t
from extsched.store.tables import tenant_extension_install as inst_t
from extsched.store.tables import tenant_extension_schedule as sched_t
from extsched.store.tables import tenant_settings as settings_t
from extsched.store.tenant_repo import paused_tenants

_ENDPOINT_FIELDS = [f.name for f in dataclasses.fields(Endpoint)]
_ENDPOINT = [ep_t.c[name].label(f"ep__{name}") for name in _ENDPOINT_FIELDS]
_INSTALL_EXTRAS = [
    ver_t.c.content_hash.label("version_content_hash"),
    settings_t.c.schedules_paused.label("tenant_paused"),
]


async def load(conn: AsyncConnection, runs: Sequence[Run]) -> list[RunContext]:
    if not runs:
        return []
    tenants = {r.tenant_id for r in runs}
    schedules: dict[tuple[str, str], tuple[Schedule, Endpoint | None]] = {}
    for row in await conn.execute(
        sa.select(sched_t, *_ENDPOINT)
        .select_from(sched_t.outerjoin(ep_t, ep_t.c.id == sched_t.c.endpoint_id))
        .where(
            sched_t.c.tenant_id.in_(tenants),
            sched_t.c.id.in_({r.schedule_id for r in runs}),
        )
    ):
        m = row._mapping
        endpoint = (
            Endpoint(**{name: m[f"ep__{name}"] for name in _ENDPOINT_FIELDS})
            if m["ep__id"] is not None
            else None
        )
        schedules[(row.tenant_id, row.id)] = (to_schedule(row), endpoint)
    installs: dict[tuple[str, str], tuple[Install, str | None, bool]] = {}
    for row in await conn.execute(
        sa.select(inst_t, *_INSTALL_EXTRAS)
        .select_from(
            inst_t.outerjoin(ver_t, ver_t.c.id == inst_t.c.version_id).outerjoin(
                settings_t, settings_t.c.tenant_id == inst_t.c.tenant_id
            )
        )
        .where(inst_t.c.tenant_id.in_(tenants), inst_t.c.id.in_({r.install_id for r in runs}))
    ):
        installs[(row.tenant_id, row.id)] = (
            to_install(row),
            row.version_content_hash,
            bool(row.tenant_paused),
        )
    contexts = []
    for run in runs:
        schedule, endpoint = schedules.get((run.tenant_id, run.schedule_id), (None, None))
        install, content_hash, paused = installs.get(
            (run.tenant_id, run.install_id), (None, None, False)
        )
        contexts.append(
            RunContext(
                run=run,
                schedule=schedule,
                install=install,
                content_hash=content_hash,
                endpoint=endpoint,
                tenant_paused=paused,
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
