"""What creating a schedule reads before it writes, in one statement on each database.

The install the request names (by install id, registry id or ``publisher.name``), the endpoint its
body names and the tenant's settings. On PostgreSQL the same statement locks the tenant's settings
row (an upsert that also creates it), so the quota counts the insert reads afterwards
(``ScheduleRepo.insert``) cannot race with another create of the tenant; on SQLite
``BEGIN IMMEDIATE`` already serializes writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.records import Endpoint, Install, TenantSettings
from extsched.store.install_repo import NAMED, first_named, named_params, to_install
from extsched.store.tables import extension_api_endpoint as ep_t
from extsched.store.tables import tenant_extension_install as inst_t
from extsched.store.tables import tenant_settings as settings_t
from extsched.store.tenant_repo import DEFAULT_TIMEZONE, LOCK_SETTINGS


@dataclass(frozen=True)
class Intake:
    install: Install | None  # None: the tenant has not installed that extension
    endpoint: Endpoint | None  # None: the body names no endpoint that exists
    settings: TenantSettings


_ENDPOINT = ep_t.alias("named_endpoint")
_COLUMNS = [
    *inst_t.c,
    _ENDPOINT.c.id.label("ep_id"),
    _ENDPOINT.c.version_id.label("ep_version_id"),
    _ENDPOINT.c.method.label("ep_method"),
    _ENDPOINT.c.path.label("ep_path"),
    _ENDPOINT.c.handler.label("ep_handler"),
]
_FROM = inst_t.outerjoin(_ENDPOINT, _ENDPOINT.c.id == sa.bindparam("b_endpoint"))
_LOCKED = LOCK_SETTINGS["postgresql"].cte("tenant_lock")
_READS = {
    "postgresql": sa.select(
        *_COLUMNS,
        _LOCKED.c.default_timezone.label("st_timezone"),
        _LOCKED.c.schedules_paused.label("st_paused"),
    )
    .select_from(_LOCKED.join(_FROM, sa.true()))
    .where(NAMED),
    "sqlite": sa.select(
        *_COLUMNS,
        settings_t.c.default_timezone.label("st_timezone"),
        settings_t.c.schedules_paused.label("st_paused"),
    )
    .select_from(_FROM.outerjoin(settings_t, settings_t.c.tenant_id == sa.bindparam("b_tenant")))
    .where(NAMED),
}


async def intake(
    conn: AsyncConnection, tenant_id: str, extension_id: str, endpoint_id: str | None, now: datetime
) -> Intake:
    params = {**named_params(tenant_id, extension_id), "b_endpoint": endpoint_id, "b_now": now}
    rows = (await conn.execute(_READS[conn.dialect.name], params)).all()
    row = first_named(rows, extension_id)
    if row is None:
        return Intake(None, None, TenantSettings(tenant_id, DEFAULT_TIMEZONE, False))
    settings = TenantSettings(tenant_id, row.st_timezone or DEFAULT_TIMEZONE, bool(row.st_paused))
    endpoint = (
        Endpoint(row.ep_id, row.ep_version_id, row.ep_method, row.ep_path, row.ep_handler)
        if row.ep_id is not None
        else None
    )
    return Intake(to_install(row), endpoint, settings)
