"""Sync intents: "make the backend match this schedule", written with the change, cleared once
applied, postponed by the back-off while the backend fails."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.runs import backoff
from extsched.ids import new_id
from extsched.store.new_rows import NewRow, insert_rows
from extsched.store.tables import tenant_extension_sync_intent as intent_t


@dataclass(frozen=True)
class SyncTarget:
    tenant_id: str
    install_id: str
    schedule_id: str


def intent_row(target: SyncTarget, now: datetime) -> NewRow:
    return NewRow(
        intent_t,
        {
            "tenant_id": target.tenant_id,
            "id": new_id(),
            "schedule_id": target.schedule_id,
            "install_id": target.install_id,
            "attempts": 0,
            "last_error": None,
            "not_before": now,
            "created_at": now,
        },
    )


class IntentRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, target: SyncTarget, now: datetime) -> None:
        await insert_rows(self.conn, [intent_row(target, now)])

    async def due(self, now: datetime, limit: int) -> list[SyncTarget]:
        """Schedules with an intent whose retry time has come (all tenants)."""
        q = (
            sa.select(intent_t.c.tenant_id, intent_t.c.install_id, intent_t.c.schedule_id)
            .where(intent_t.c.not_before <= now)
            .distinct()
            .limit(limit)
        )
        return [SyncTarget(t, i, s) for t, i, s in await self.conn.execute(q)]

    async def ids_for(self, tenant_id: str, schedule_id: str) -> list[str]:
        q = sa.select(intent_t.c.id).where(
            intent_t.c.tenant_id == tenant_id, intent_t.c.schedule_id == schedule_id
        )
        return list((await self.conn.execute(q)).scalars())

    async def clear(self, tenant_id: str, intent_ids: Sequence[str]) -> None:
        if intent_ids:
            await self.conn.execute(
                intent_t.delete().where(
                    intent_t.c.tenant_id == tenant_id, intent_t.c.id.in_(intent_ids)
                )
            )

    async def postpone(self, tenant_id: str, schedule_id: str, error: str, now: datetime) -> None:
        """Each of the schedule's intents waits the back-off of its failures before a retry."""
        rows = await self.conn.execute(
            sa.select(intent_t.c.id, intent_t.c.attempts).where(
                intent_t.c.tenant_id == tenant_id, intent_t.c.schedule_id == schedule_id
            )
        )
        for intent_id, attempts in rows.all():
            await self.conn.execute(
                intent_t.update()
                .where(intent_t.c.tenant_id == tenant_id, intent_t.c.id == intent_id)
                .values(
                    attempts=attempts + 1,
                    last_error=error[:4000],
                    not_before=now + backoff(attempts + 1),
                )
            )

    async def delete_for_install(self, tenant_id: str, install_id: str) -> None:
        await self.conn.execute(
            intent_t.delete().where(
                intent_t.c.tenant_id == tenant_id, intent_t.c.install_id == install_id
            )
        )

    async def delete_tenant(self, tenant_id: str) -> None:
        await self.conn.execute(intent_t.delete().where(intent_t.c.tenant_id == tenant_id))

    async def count(self, tenant_id: str | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(intent_t)
        if tenant_id is not None:
            q = q.where(intent_t.c.tenant_id == tenant_id)
        return int((await self.conn.execute(q)).scalar_one())
