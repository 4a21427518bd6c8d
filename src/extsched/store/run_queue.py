"""Runs as a work queue for any backend: record, lease, start, renew, take back, write outcomes.

Cross-tenant by nature; every statement still filters by ``tenant_id`` (with the run ids) so Citus
keeps each one on the shards it needs. A lease (owner + expiry) fences every write: whoever holds
a run's lease writes its outcome, nobody else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.records import Run
from extsched.domain.runs import AttemptRecord, Outcome
from extsched.store.schedule_repo import to_run
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule_run as run_t
from extsched.store.types import UtcDateTime

RunKey = tuple[str, str]  # (tenant_id, run id)


class UnfinishedRun(NamedTuple):
    tenant_id: str
    install_id: str
    schedule_id: str
    run_id: str


def keyed(keys: Iterable[RunKey]) -> tuple[sa.ColumnElement[bool], ...]:
    """Rows among ``keys``; the tenant filter keeps Citus on the shards."""
    keys = list(keys)
    return run_t.c.tenant_id.in_({t for t, _ in keys}), run_t.c.id.in_([i for _, i in keys])


def active(now: datetime) -> sa.ColumnElement[bool]:
    """A run that blocks its schedule's next occurrence: queued, or running under a live lease."""
    return (run_t.c.status == "queued") | (
        (run_t.c.status == "running") & (run_t.c.lease_expires_at > now)
    )


def free(now: datetime) -> sa.ColumnElement[bool]:
    """A run no live lease holds: none, or an expired one (its worker vanished). Not the owner's
    own leases: a worker that leases ahead and holds its runs would take them again on every
    claim (and prepare them again), which doubled a burst's CPU."""
    return run_t.c.lease_owner.is_(None) | (run_t.c.lease_expires_at < now)


def running(now: datetime, lease_until: datetime) -> dict[str, Any]:
    """What a run's start writes: running under a lease renewed for the call, attempt + 1."""
    return {
        "status": "running",
        "lease_expires_at": lease_until,
        "attempt": run_t.c.attempt + 1,
        "started_at": sa.func.coalesce(run_t.c.started_at, now),
        "next_attempt_at": None,
    }


class RunQueue:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    async def insert_new(self, runs: Sequence[Run]) -> set[str]:
        """Insert runs; one whose (tenant_id, idempotency_key) exists is skipped silently.
        Returns the ids inserted: an occurrence delivered twice gets one run."""
        if not runs:
            return set()
        insert = pg_insert if self.postgres else sqlite_insert
        stmt = (
            insert(run_t)
            .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
            .returning(run_t.c.id)
        )
        return set((await self.conn.execute(stmt, [r.__dict__ for r in runs])).scalars())

    async def busy_schedules(
        self, tenant_ids: set[str], schedule_ids: set[str], now: datetime
    ) -> set[str]:
        """Schedules with a run queued, or running under a live lease (the overlap rule)."""
        if not schedule_ids:
            return set()
        q = sa.select(run_t.c.schedule_id).where(
            run_t.c.tenant_id.in_(tenant_ids), run_t.c.schedule_id.in_(schedule_ids), active(now)
        )
        return set((await self.conn.execute(q)).scalars())

    async def cancel_ahead(self, tenant_id: str, schedule_id: str, now: datetime) -> int:
        """Delete the schedule's run recorded ahead for an occurrence that has not come yet."""
        result = await self.conn.execute(
            run_t.delete().where(
                run_t.c.tenant_id == tenant_id,
                run_t.c.schedule_id == schedule_id,
                run_t.c.trigger == "schedule",
                run_t.c.status == "queued",
                run_t.c.attempt == 0,
                run_t.c.next_attempt_at > now,
            )
        )
        return int(result.rowcount)

    async def overlapping(self, runs: Sequence[Run], now: datetime) -> set[RunKey]:
        """Of these runs, those whose schedule has another run queued or running under a live
        lease (the overlap rule, applied as a scheduled run starts)."""
        if not runs:
            return set()
        own = {r.id for r in runs}
        q = sa.select(run_t.c.tenant_id, run_t.c.schedule_id, run_t.c.id).where(
            run_t.c.tenant_id.in_({r.tenant_id for r in runs}),
            run_t.c.schedule_id.in_({r.schedule_id for r in runs}),
            active(now),
        )
        busy = {(t, s) for t, s, i in await self.conn.execute(q) if i not in own}
        return {(r.tenant_id, r.id) for r in runs if (r.tenant_id, r.schedule_id) in busy}

    async def lease(
        self,
        *,
        owner: str,
        now: datetime,
        horizon: datetime,
        lease_until: datetime,
        limit: int,
        keys: Sequence[RunKey] | None = None,
    ) -> list[Run]:
        """Lease up to ``limit`` queued runs due by ``horizon`` to ``owner``; they stay queued.

        A queued run whose lease expired (its worker vanished before starting it) is free again.
        PostgreSQL skips rows other workers hold; SQLite's single writer makes the conditional
        UPDATE the compare-and-set. Only ``start`` makes a leased run running.
        """
        q = (
            sa.select(run_t.c.tenant_id, run_t.c.id)
            .where(run_t.c.status == "queued", run_t.c.next_attempt_at <= horizon, free(now))
            .order_by(run_t.c.next_attempt_at)
            .limit(limit)
        )
        if keys is not None:  # these runs only (one engine's own)
            q = q.where(*keyed(keys))
        if self.postgres:
            q = q.with_for_update(skip_locked=True)
        picked = [(t, i) for t, i in await self.conn.execute(q)]
        if not picked:
            return []
        stmt = (
            run_t.update()
            .where(*keyed(picked), run_t.c.status == "queued", free(now))
            .values(lease_owner=owner, lease_expires_at=lease_until)
            .returning(*run_t.c)
        )
        return [to_run(r) for r in await self.conn.execute(stmt)]

    async def start(
        self, owner: str, keys: Sequence[RunKey], now: datetime, lease_until: datetime
    ) -> dict[RunKey, tuple[int, datetime]]:
        """Leased queued runs become running, attempt + 1; the (attempt, started_at) of those
        still ours. A run cancelled or taken over since it was leased is not returned."""
        if not keys:
            return {}
        stmt = (
            run_t.update()
            .where(*keyed(keys), run_t.c.status == "queued", run_t.c.lease_owner == owner)
            .values(running(now, lease_until))
            .returning(run_t.c.tenant_id, run_t.c.id, run_t.c.attempt, run_t.c.started_at)
        )
        return {(t, i): (a, s) for t, i, a, s in await self.conn.execute(stmt)}

    async def start_free(
        self, owner: str, keys: Sequence[RunKey], now: datetime, lease_until: datetime
    ) -> list[Run]:
        """Lease and start in one step: of these runs, those queued, due and free (no lease, or
        an expired one) become running for ``owner``, attempt + 1; they are returned as started.
        For runs recorded in this transaction by an engine outside the database, which need no
        lease ahead of their start."""
        if not keys:
            return []
        stmt = (
            run_t.update()
            .where(
                *keyed(keys), run_t.c.status == "queued", run_t.c.next_attempt_at <= now, free(now)
            )
            .values({**running(now, lease_until), "lease_owner": owner})
            .returning(*run_t.c)
        )
        return [to_run(r) for r in await self.conn.execute(stmt)]

    async def release(self, owner: str) -> None:
        """Give back the queued runs ``owner`` leased but did not start (a worker stopping)."""
        await self.conn.execute(
            run_t.update()
            .where(run_t.c.status == "queued", run_t.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )

    async def renew(self, owner: str, keys: Sequence[RunKey], until: datetime) -> None:
        for i in range(0, len(keys), 500):
            await self.conn.execute(
                run_t.update()
                .where(
                    *keyed(keys[i : i + 500]),
                    run_t.c.lease_owner == owner,
                    run_t.c.status == "running",
                )
                .values(lease_expires_at=until)
            )

    async def any_expired(self, now: datetime) -> bool:
        q = (
            sa.select(run_t.c.id)
            .where(run_t.c.status == "running", run_t.c.lease_expires_at < now)
            .limit(1)
        )
        return (await self.conn.execute(q)).first() is not None

    async def expired(self, now: datetime, limit: int) -> list[Run]:
        """Running runs whose lease ran out: their worker vanished (locked on PostgreSQL)."""
        q = (
            run_t.select()
            .where(run_t.c.status == "running", run_t.c.lease_expires_at < now)
            .limit(limit)
        )
        if self.postgres:
            q = q.with_for_update(skip_locked=True)
        return [to_run(r) for r in await self.conn.execute(q)]

    async def pending_at(self, key: RunKey) -> datetime | None:
        """When to look at the run again: a queued run's next attempt, a running one's lease
        end; None when it ended."""
        q = sa.select(run_t.c.status, run_t.c.next_attempt_at, run_t.c.lease_expires_at).where(
            *keyed([key])
        )
        row = (await self.conn.execute(q)).first()
        if row is None or row.status not in ("queued", "running"):
            return None
        value: datetime | None = row.next_attempt_at if row.status == "queued" else None
        return value or row.lease_expires_at

    async def unfinished(self, tenant_id: str | None = None) -> list[UnfinishedRun]:
        """Every queued or running run (of ``tenant_id``), for handing over to a backend."""
        q = sa.select(run_t.c.tenant_id, run_t.c.install_id, run_t.c.schedule_id, run_t.c.id).where(
            run_t.c.status.in_(("queued", "running"))
        )
        if tenant_id is not None:
            q = q.where(run_t.c.tenant_id == tenant_id)
        return [UnfinishedRun(*row) for row in await self.conn.execute(q.order_by(run_t.c.id))]

    async def active_spans(
        self, tenant_id: str, schedule_id: str, since: datetime
    ) -> list[tuple[datetime, datetime | None]]:
        """When the schedule's runs were active (from being recorded until they ended; None:
        not ended) for those active at some time after ``since``."""
        q = sa.select(run_t.c.created_at, run_t.c.finished_at).where(
            run_t.c.tenant_id == tenant_id,
            run_t.c.schedule_id == schedule_id,
            run_t.c.status.not_in(("skipped", "missed")),
            run_t.c.finished_at.is_(None) | (run_t.c.finished_at > since),
        )
        return [(start, end) for start, end in await self.conn.execute(q)]

    async def unfinished_by_keys(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """The ids of the queued or running runs recorded under these (tenant, idempotency key)
        pairs."""
        if not keys:
            return {}
        q = sa.select(run_t.c.tenant_id, run_t.c.idempotency_key, run_t.c.id).where(
            run_t.c.tenant_id.in_({t for t, _ in keys}),
            run_t.c.idempotency_key.in_({k for _, k in keys}),
            run_t.c.status.in_(("queued", "running")),
        )
        return {(t, k): i for t, k, i in await self.conn.execute(q)}

    async def next_due(self, after: datetime) -> datetime | None:
        """When the next queued run due after ``after`` is."""
        q = sa.select(sa.func.min(run_t.c.next_attempt_at, type_=UtcDateTime())).where(
            run_t.c.status == "queued", run_t.c.next_attempt_at > after
        )
        value: datetime | None = (await self.conn.execute(q)).scalar_one_or_none()
        return value

    async def write_outcomes(
        self, outcomes: Sequence[Outcome], owner: str | None, now: datetime
    ) -> list[Outcome]:
        """Write the outcomes of running runs whose lease is still ``owner``'s (each run's own
        recorded owner when None: runs taken back); returns those written. A retry goes back to
        the queue, cleared of its lease; a final one ends."""
        if not outcomes:
            return []
        fence = {(o.run.tenant_id, o.run.id): owner or o.run.lease_owner for o in outcomes}
        q = sa.select(run_t.c.tenant_id, run_t.c.id, run_t.c.lease_owner).where(
            *keyed(fence), run_t.c.status == "running"
        )
        if self.postgres:
            q = q.with_for_update()
        held = {(t, i) for t, i, lease in await self.conn.execute(q) if lease == fence[(t, i)]}
        written = [o for o in outcomes if (o.run.tenant_id, o.run.id) in held]
        if written:
            await self.conn.execute(
                run_t.update()
                .where(
                    run_t.c.tenant_id == sa.bindparam("b_tenant"),
                    run_t.c.id == sa.bindparam("b_id"),
                )
                .values(
                    status=sa.bindparam("b_status"),
                    error=sa.bindparam("b_error"),
                    http_status=sa.bindparam("b_http_status"),
                    skip_reason=sa.bindparam("b_skip_reason"),
                    version_id=sa.func.coalesce(sa.bindparam("b_version_id"), run_t.c.version_id),
                    content_hash=sa.func.coalesce(
                        sa.bindparam("b_content_hash"), run_t.c.content_hash
                    ),
                    request_id=sa.func.coalesce(sa.bindparam("b_request_id"), run_t.c.request_id),
                    next_attempt_at=sa.bindparam("b_next_attempt_at", type_=UtcDateTime()),
                    finished_at=sa.bindparam("b_finished_at", type_=UtcDateTime()),
                    duration_ms=sa.bindparam("b_duration_ms"),
                    lease_owner=None,
                    lease_expires_at=None,
                ),
                [_params(o, now) for o in written],
            )
            records = [
                replace(o.attempt, worker=fence[(o.run.tenant_id, o.run.id)])
                for o in written
                if o.attempt is not None
            ]
            await self.add_attempts(records)
        return written

    async def add_attempts(self, records: Sequence[AttemptRecord]) -> None:
        if records:
            await self.conn.execute(attempt_t.insert(), [r.__dict__ for r in records])


def _params(o: Outcome, now: datetime) -> dict[str, Any]:
    finished = (o.finished_at or now) if o.final else None
    started = o.run.started_at or finished
    return {
        "b_tenant": o.run.tenant_id,
        "b_id": o.run.id,
        "b_status": o.status if o.final else "queued",
        "b_error": o.error,
        "b_http_status": o.http_status,
        "b_skip_reason": o.skip_reason,
        "b_version_id": o.version_id,
        "b_content_hash": o.content_hash,
        "b_request_id": o.request_id,
        "b_next_attempt_at": o.retry_at,
        "b_finished_at": finished,
        "b_duration_ms": (
            int((finished - started).total_seconds() * 1000) if finished and started else None
        ),
    }
