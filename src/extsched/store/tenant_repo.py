"""Tenant settings and the tenant audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.paging import PageRequest
from extsched.domain.records import AuditEntry, TenantSettings
from extsched.store.new_rows import NewRow, insert_rows
from extsched.store.tables import tenant_extension_audit as audit_t
from extsched.store.tables import tenant_settings as settings_t
from extsched.store.types import UtcDateTime

DEFAULT_TIMEZONE = "UTC"


async def paused_tenants(conn: AsyncConnection, tenants: set[str]) -> set[str]:
    """Of these tenants, those whose kill switch is on."""
    q = sa.select(settings_t.c.tenant_id).where(
        settings_t.c.tenant_id.in_(tenants), settings_t.c.schedules_paused.is_(True)
    )
    return set((await conn.execute(q)).scalars())


def audit_row(entry: AuditEntry) -> NewRow:
    return NewRow(audit_t, entry.__dict__)


def _lock_settings(insert: Any) -> Any:
    row = insert(settings_t).values(
        tenant_id=sa.bindparam("b_tenant"),
        default_timezone=DEFAULT_TIMEZONE,
        schedules_paused=False,
        created_at=sa.bindparam("b_now", type_=UtcDateTime()),
        updated_at=sa.bindparam("b_now", type_=UtcDateTime()),
    )
    return row.on_conflict_do_update(
        index_elements=["tenant_id"], set_={"tenant_id": row.excluded.tenant_id}
    ).returning(settings_t.c.default_timezone, settings_t.c.schedules_paused)


# By dialect: the tenant's settings row, created if missing and locked (binds b_tenant, b_now).
LOCK_SETTINGS = {"sqlite": _lock_settings(sqlite_insert), "postgresql": _lock_settings(pg_insert)}


class TenantRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def settings(self, tenant_id: str, *, lock: bool = False) -> TenantSettings:
        """The tenant's settings; a tenant that never saved any reads the defaults."""
        q = settings_t.select().where(settings_t.c.tenant_id == tenant_id)
        if lock:
            q = q.with_for_update()
        row = (await self.conn.execute(q)).first()
        if row is None:
            return TenantSettings(tenant_id, DEFAULT_TIMEZONE, schedules_paused=False)
        return TenantSettings(row.tenant_id, row.default_timezone, row.schedules_paused)

    async def lock_settings(self, tenant_id: str, now: datetime) -> TenantSettings:
        """The tenant's settings, its row created if missing and locked for this transaction
        (PostgreSQL), in one statement: quota checks and the kill switch serialize on it.
        SQLite needs no lock: BEGIN IMMEDIATE already serializes writers."""
        stmt = LOCK_SETTINGS[self.conn.dialect.name]
        params = {"b_tenant": tenant_id, "b_now": now}
        tz, paused = (await self.conn.execute(stmt, params)).one()
        return TenantSettings(tenant_id, tz, paused)

    async def delete_tenant(self, tenant_id: str) -> None:
        """The tenant's settings and audit log (the last step of deleting a tenant)."""
        for table in (settings_t, audit_t):
            await self.conn.execute(table.delete().where(table.c.tenant_id == tenant_id))

    async def ensure_settings_row(self, tenant_id: str, now: datetime) -> None:
        """Create the defaults row if missing, so it can be locked (quota checks, kill switch).

        Two transactions may race to create it; ON CONFLICT DO NOTHING lets both go on.
        """
        insert = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        await self.conn.execute(
            insert(settings_t)
            .values(
                tenant_id=tenant_id,
                default_timezone=DEFAULT_TIMEZONE,
                schedules_paused=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )

    async def save_settings(self, s: TenantSettings, now: datetime) -> None:
        await self.ensure_settings_row(s.tenant_id, now)
        await self.conn.execute(
            settings_t.update()
            .where(settings_t.c.tenant_id == s.tenant_id)
            .values(
                default_timezone=s.default_timezone,
                schedules_paused=s.schedules_paused,
                updated_at=now,
            )
        )

    async def add_audit(self, entry: AuditEntry) -> None:
        await insert_rows(self.conn, [audit_row(entry)])

    async def list_audit(self, tenant_id: str, page: PageRequest) -> list[AuditEntry]:
        """Newest first; returns up to ``limit + 1`` rows so the caller can tell if more exist."""
        q = audit_t.select().where(audit_t.c.tenant_id == tenant_id)
        if page.after is not None:
            at, last_id = page.after
            q = q.where(
                (audit_t.c.created_at < at)
                | ((audit_t.c.created_at == at) & (audit_t.c.id < last_id))
            )
        q = q.order_by(audit_t.c.created_at.desc(), audit_t.c.id.desc()).limit(page.limit + 1)
        return [
            AuditEntry(
                tenant_id=r.tenant_id,
                id=r.id,
                actor=r.actor,
                action=r.action,
                target_type=r.target_type,
                target_id=r.target_id,
                details=r.details,
                created_at=r.created_at,
            )
            for r in await self.conn.execute(q)
        ]
