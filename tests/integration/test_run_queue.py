"""Leases on the run queue: a worker that holds runs leased ahead never takes them again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from extsched.domain.runs import new_run
from extsched.store.db import Database
from extsched.store.run_queue import RunQueue

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


async def test_a_lease_never_takes_the_owners_own_leased_runs_again(db: Database) -> None:
    run = new_run(
        tenant_id="t",
        schedule_id="s",
        install_id="i",
        trigger="schedule",
        scheduled_for=T0,
        idempotency_key="s:1",
        status="queued",
        max_attempts=1,
        now=T0,
    )
    until = T0 + timedelta(minutes=1)
    async with db.transaction() as conn:
        await RunQueue(conn).insert_new([run])
    async with db.transaction() as conn:
        first = await RunQueue(conn).lease(
            owner="w1", now=T0, horizon=T0, lease_until=until, limit=10
        )
    async with db.transaction() as conn:
        again = await RunQueue(conn).lease(
            owner="w1", now=T0, horizon=T0, lease_until=until, limit=10
        )
    async with db.transaction() as conn:
        expired = await RunQueue(conn).lease(
            owner="w2", now=until + timedelta(seconds=1), horizon=until, lease_until=until, limit=10
        )
    assert [[r.id for r in x] for x in (first, again, expired)] == [[run.id], [], [run.id]]
