"""Everything creating a schedule has to read, in as few statements as each database allows.

The install the request names (by install id, registry id or ``publisher.name``), the endpoint its
body names, the tenant's settings, and the quota and name counts. The counts must not race with
another create of the same tenant: on PostgreSQL the tenant's settings row is locked first (one
upsert that also creates it) and the rest read after, in a second statement whose snapshot then
sees every create that committed before; on SQLite ``BEGIN IMMEDIATE`` already serializes writers,
so all of it is one statement.
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
from extsched.store.tables import tenant_extension_schedule as sched_t
from extsched.store.tables import tenant_settings as settings_t
from extsched.store.tenant_repo import DEFAULT_TIMEZONE, TenantRepo


@dataclass(frozen=True)
class Intake:
    install: Install | None  # None: the tenant has not installed that extension
    endpoint: Endpoint | None  # None: the body names no endpoint that exists
    settings: TenantSettings
    tenant_schedules: int
    install_schedules: int
    name_taken: bool


def _count(where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).where(where).scalar_subquery()


_TENANT = sched_t.c.tenant_id == sa.bindparam("b_tenant")
_ENDPOINT = ep_t.alias("named_endpoint")
_COLUMNS = [
    *inst_t.c,
    _ENDPOINT.c.id.label("ep_id"),
    _ENDPOINT.c.version_id.label("ep_version_id"),
    _ENDPOINT.c.method.label("ep_method"),
    _ENDPOINT.c.path.label("ep_path"),
    _ENDPOINT.c.handler.label("ep_handler"),
    _count(_TENANT).label("tenant_schedules"),
    _count(_TENANT & (sched_t.c.install_id == inst_t.c.id)).label("install_schedules"),
    _count(
        _TENANT & (sched_t.c.install_id == inst_t.c.id) & (sched_t.c.name == sa.bindparam("b_name"))
    ).label("same_name"),
]
_FROM = inst_t.outerjoin(_ENDPOINT, _ENDPOINT.c.id == sa.bindparam("b_endpoint"))
_AFTER_LOCK = sa.select(*_COLUMNS).select_from(_FROM).where(NAMED)
_ALL_AT_ONCE = (
    sa.select(
        *_COLUMNS,
        settings_t.c.default_timezone.label("st_timezone"),
        settings_t.c.schedules_paused.label("st_paused"),
    )
    .select_from(_FROM.outerjoin(settings_t, settings_t.c.tenant_id == sa.bindparam("b_tenant")))
    .where(NAMED)
)


async def intake(
    conn: AsyncConnection,
    tenant_id: str,
    extension_id: str,
    endpoint_id: str | None,
    name: str | None,
    now: datetime,
) -> Intake:
    params = {**named_params(tenant_id, extension_id), "b_endpoint": endpoint_id, "b_name": name}
    settings: TenantSettings | None = None
    if conn.dialect.name == "postgresql":
        settings = await TenantRepo(conn).lock_settings(tenant_id, now)
        rows = (await conn.execute(_AFTER_LOCK, params)).all()
    else:
        rows = (await conn.execute(_ALL_AT_ONCE, params)).all()
    row = first_named(rows, extension_id)
    if settings is None:
        settings = TenantSettings(
            tenant_id,
            row.st_timezone if row is not None and row.st_timezone else DEFAULT_TIMEZONE,
            bool(row.st_paused) if row is not None else False,
        )
    if row is None:
        return Intake(None, None, settings, 0, 0, False)
    endpoint = (
        Endpoint(row.ep_id, row.ep_version_id, row.ep_method, row.ep_path, row.ep_handler)
        if row.ep_id is not None
        else None
    )
    return Intake(
        to_install(row),
        endpoint,
        settings,
        int(row.tenant_schedules),
        int(row.install_schedules),
        bool(row.same_name),
    )
