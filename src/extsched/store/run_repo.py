"""Runs and attempts as the API and run-now read them. Every method takes ``tenant_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.records import Run
from extsched.errors import StoreUnavailable
from extsched.store.schedule_repo import to_run
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule_run as run_t

ACTIVE = ("queued", "running")


class RunRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, tenant_id: str, run_id: str) -> Run | None:
        row = (
            await self.conn.execute(
                run_t.select().where(run_t.c.tenant_id == tenant_id, run_t.c.id == run_id)
            )
        ).first()
        return to_run(row) if row else None

    async def find_by_key(self, tenant_id: str, idempotency_key: str) -> Run | None:
        row = (
            await self.conn.execute(
                run_t.select().where(
                    run_t.c.tenant_id == tenant_id, run_t.c.idempotency_key == idempotency_key
                )
            )
        ).first()
        return to_run(row) if row else None

    async def active_run_now(self, tenant_id: str, schedule_id: str) -> Run | None:
        row = (
            await self.conn.execute(
                run_t.select()
                .where(
                    run_t.c.tenant_id == tenant_id,
                    run_t.c.schedule_id == schedule_id,
                    run_t.c.trigger == "run_now",
                    run_t.c.status.in_(ACTIVE),
                )
                .order_by(run_t.c.created_at.desc())
                .limit(1)
            )
        ).first()
        return to_run(row) if row else None

    async def run_now_since(self, tenant_id: str, since: datetime) -> list[datetime]:
        """When the tenant's run-now runs since ``since`` were made; StoreUnavailable when the
        count cannot be had (the limiter then refuses: it fails closed)."""
        q = (
            sa.select(run_t.c.created_at)
            .where(
                run_t.c.tenant_id == tenant_id,
                run_t.c.trigger == "run_now",
                run_t.c.created_at > since,
            )
            .order_by(run_t.c.created_at)
        )
        try:
            return list((await self.conn.execute(q)).scalars())
        except SQLAlchemyError as exc:
            raise StoreUnavailable("run-now requests could not be counted") from exc

    async def attempts(self, tenant_id: str, run_id: str) -> list[dict[str, Any]]:
        q = (
            attempt_t.select()
            .where(attempt_t.c.tenant_id == tenant_id, attempt_t.c.run_id == run_id)
            .order_by(attempt_t.c.attempt)
        )
        return [dict(r._mapping) for r in await self.conn.execute(q)]

    async def queue_depth(self, now: datetime) -> int:
        """Runs due and not started yet: not those queued ahead of their time or backing off."""
        q = (
            sa.select(sa.func.count())
            .select_from(run_t)
            .where(run_t.c.status == "queued", run_t.c.next_attempt_at <= now)
        )
        return int((await self.conn.execute(q)).scalar_one())

    async def delete_for_install(self, tenant_id: str, install_id: str) -> None:
        """The install's runs and their attempts."""
        run_ids = sa.select(run_t.c.id).where(
            run_t.c.tenant_id == tenant_id, run_t.c.install_id == install_id
        )
        await self.conn.execute(
            attempt_t.delete().where(
                attempt_t.c.tenant_id == tenant_id, attempt_t.c.run_id.in_(run_ids)
            )
        )
        await self.conn.execute(
            run_t.delete().where(run_t.c.tenant_id == tenant_id, run_t.c.install_id == install_id)
        )

    async def delete_tenant(self, tenant_id: str) -> None:
        for table in (attempt_t, run_t):
            await self.conn.execute(table.delete().where(table.c.tenant_id == tenant_id))
