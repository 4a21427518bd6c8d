"""Run rows in bulk, for the dispatcher and workers (cross-tenant by nature, keyed by tenant)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.records import Run
from extsched.store.schedule_repo import to_run
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule_run as run_t
from extsched.store.types import UtcDateTime

ACTIVE = ("queued", "running")


def _keyed(keys: Sequence[tuple[str, str]]) -> tuple[sa.ColumnElement[bool], ...]:
    """Rows among ``keys`` (tenant_id, run id); the tenant filter keeps Citus on the shards."""
    return run_t.c.tenant_id.in_({t for t, _ in keys}), run_t.c.id.in_([i for _, i in keys])


def _active(now: datetime) -> sa.ColumnElement[bool]:
    """A run that blocks its schedule's next occurrence: queued, or running under a live lease."""
    return (run_t.c.status == "queued") | (
        (run_t.c.status == "running") & (run_t.c.lease_expires_at > now)
    )


class RunRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert_new(self, rows: list[dict[str, Any]]) -> set[str]:
        """Insert runs; a row whose (tenant_id, idempotency_key) exists is skipped silently.

        Returns the ids actually inserted: a backend that delivers an occurrence twice gets one run.
        """
        if not rows:
            return set()
        insert = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        stmt = (
            insert(run_t)
            .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
            .returning(run_t.c.id)
        )
        return set((await self.conn.execute(stmt, rows)).scalars())

    async def active_schedule_ids(
        self, tenant_ids: set[str], schedule_ids: set[str], now: datetime
    ) -> set[str]:
        """Schedules with a run queued, or running under a live lease (the overlap rule)."""
        if not schedule_ids:
            return set()
        q = sa.select(run_t.c.schedule_id).where(
            run_t.c.tenant_id.in_(tenant_ids), run_t.c.schedule_id.in_(schedule_ids), _active(now)
        )
        return set((await self.conn.execute(q)).scalars())

    async def claim(
        self, *, owner: str, now: datetime, horizon: datetime, lease_until: datetime, limit: int
    ) -> list[Run]:
        """Lease up to ``limit`` queued runs due by ``horizon`` to ``owner``; they stay queued.

        A queued run whose lease expired (its worker vanished before starting it) is free again.
        PostgreSQL skips rows other workers hold; SQLite's single writer makes the conditional
        UPDATE the compare-and-set. Only ``start`` makes a leased run running.
        """
        free = run_t.c.lease_owner.is_(None) | (run_t.c.lease_expires_at < now)
        q = (
            sa.select(run_t.c.tenant_id, run_t.c.id)
            .where(run_t.c.status == "queued", run_t.c.next_attempt_at <= horizon, free)
            .order_by(run_t.c.next_attempt_at)
            .limit(limit)
        )
        if self.conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        picked = (await self.conn.execute(q)).all()
        if not picked:
            return []
        stmt = (
            run_t.update()
            .where(
                *_keyed(picked),
                run_t.c.status == "queued",
                free,
            )
            .values(lease_owner=owner, lease_expires_at=lease_until)
            .returning(*run_t.c)
        )
        return [to_run(r) for r in await self.conn.execute(stmt)]

    async def start(
        self, owner: str, keys: list[tuple[str, str]], now: datetime, lease_until: datetime
    ) -> dict[tuple[str, str], tuple[int, datetime]]:
        """Leased queued runs become running, attempt + 1; returns the (attempt, started_at) of
        those still ours. A run cancelled or taken over since it was leased is not returned."""
        if not keys:
            return {}
        stmt = (
            run_t.update()
            .where(
                *_keyed(keys),
                run_t.c.status == "queued",
                run_t.c.lease_owner == owner,
            )
            .values(
                status="running",
                lease_expires_at=lease_until,
                attempt=run_t.c.attempt + 1,
                started_at=sa.func.coalesce(run_t.c.started_at, now),
                next_attempt_at=None,
            )
            .returning(run_t.c.tenant_id, run_t.c.id, run_t.c.attempt, run_t.c.started_at)
        )
        return {(t, i): (a, s) for t, i, a, s in await self.conn.execute(stmt)}

    async def release(self, owner: str) -> None:
        """Give back the queued runs ``owner`` leased but did not start (a worker stopping)."""
        await self.conn.execute(
            run_t.update()
            .where(run_t.c.status == "queued", run_t.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )

    async def overlapping(self, runs: list[Run], now: datetime) -> set[tuple[str, str]]:
        """Of these runs, the keys of those whose schedule has another run queued or running
        under a live lease (the overlap rule, applied as a scheduled run starts)."""
        if not runs:
            return set()
        own = {r.id for r in runs}
        q = sa.select(run_t.c.tenant_id, run_t.c.schedule_id, run_t.c.id).where(
            run_t.c.tenant_id.in_({r.tenant_id for r in runs}),
            run_t.c.schedule_id.in_({r.schedule_id for r in runs}),
            _active(now),
        )
        busy = {(t, s) for t, s, i in await self.conn.execute(q) if i not in own}
        return {(r.tenant_id, r.id) for r in runs if (r.tenant_id, r.schedule_id) in busy}

    async def any_expired(self, now: datetime) -> bool:
        q = (
            sa.select(run_t.c.id)
            .where(run_t.c.status == "running", run_t.c.lease_expires_at < now)
            .limit(1)
        )
        return (await self.conn.execute(q)).first() is not None

    async def expired_leases(self, now: datetime, limit: int) -> list[Run]:
        q = (
            run_t.select()
            .where(run_t.c.status == "running", run_t.c.lease_expires_at < now)
            .limit(limit)
        )
        if self.conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        return [to_run(r) for r in await self.conn.execute(q)]

    async def renew(self, owner: str, keys: list[tuple[str, str]], until: datetime) -> None:
        for i in range(0, len(keys), 500):
            await self.conn.execute(
                run_t.update()
                .where(
                    *_keyed(keys[i : i + 500]),
                    run_t.c.lease_owner == owner,
                    run_t.c.status == "running",
                )
                .values(lease_expires_at=until)
            )

    async def finish(self, run: Run, *, owner: str | None, values: dict[str, Any]) -> bool:
        """Write a running run's outcome; fenced by its lease owner. False: someone else owns it."""
        conds = [
            run_t.c.tenant_id == run.tenant_id,
            run_t.c.id == run.id,
            run_t.c.status == "running",
        ]
        if owner is not None:
            conds.append(run_t.c.lease_owner == owner)
        result = await self.conn.execute(run_t.update().where(*conds).values(**values))
        return result.rowcount == 1

    async def finish_many(self, owner: str, outcomes: list[dict[str, Any]]) -> int:
        """``finish`` for a batch in one statement; returns how many rows were still ours.

        Each outcome carries the run's ``b_tenant``/``b_id`` and every column below.
        """
        if not outcomes:
            return 0
        stmt = (
            run_t.update()
            .where(
                run_t.c.tenant_id == sa.bindparam("b_tenant"),
                run_t.c.id == sa.bindparam("b_id"),
                run_t.c.status == "running",
                run_t.c.lease_owner == owner,
            )
            .values(
                status=sa.bindparam("b_status"),
                error=sa.bindparam("b_error"),
                http_status=sa.bindparam("b_http_status"),
                skip_reason=sa.bindparam("b_skip_reason"),
                version_id=sa.func.coalesce(sa.bindparam("b_version_id"), run_t.c.version_id),
                content_hash=sa.func.coalesce(sa.bindparam("b_content_hash"), run_t.c.content_hash),
                request_id=sa.func.coalesce(sa.bindparam("b_request_id"), run_t.c.request_id),
                next_attempt_at=sa.bindparam("b_next_attempt_at", type_=UtcDateTime()),
                finished_at=sa.bindparam("b_finished_at", type_=UtcDateTime()),
                duration_ms=sa.bindparam("b_duration_ms"),
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        result = await self.conn.execute(stmt, outcomes)
        return int(result.rowcount)

    async def add_attempts(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(attempt_t.insert(), rows)

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
        q = (
            sa.select(run_t.c.created_at)
            .where(
                run_t.c.tenant_id == tenant_id,
                run_t.c.trigger == "run_now",
                run_t.c.created_at > since,
            )
            .order_by(run_t.c.created_at)
        )
        return list((await self.conn.execute(q)).scalars())

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
