"""The write path in statements and trips: creating a schedule is five statements on SQLite and
two on PostgreSQL, a SQLite statement is one trip to its connection's thread, and a PostgreSQL
connection is pinged only after it idled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from extsched.api.app import create_app
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.services.caller import Caller
from extsched.services.inputs import Given
from extsched.store.db import Database
from tests.conftest import Personas
from tests.support.seed import installed_sample

BOOKKEEPING = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(BOOKKEEPING):
            seen.append(" ".join(statement.split()))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


@pytest.fixture
async def embedded(settings: Settings, clock: ManualClock) -> AsyncIterator[FastAPI]:
    """The API on the default backend (embedded: its state changes in the same transaction)."""
    application = create_app(settings, clock=clock, background=False)
    async with application.router.lifespan_context(application):
        yield application


async def test_creating_a_schedule_takes_five_statements_on_sqlite_and_two_on_postgres(
    embedded: FastAPI, personas: Personas
) -> None:
    svc = embedded.state.services
    transport = httpx.ASGITransport(app=embedded)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ext = await installed_sample(client, personas.operator, personas.admin_a)
    caller = Caller("tenant-a", "alice")
    endpoint = ext["endpoints"]["POST /sync"]
    await svc.schedules.create(
        caller, "acme.sample", Given({"endpointId": endpoint, "cron": "0 1 * * *"})
    )
    with statements(svc.db) as seen:
        await svc.schedules.create(
            caller,
            "acme.sample",  # resolved by slug, the costliest of the three ways to name it
            Given({"endpointId": endpoint, "cron": "0 2 * * *", "name": "second"}),
        )
    # SQLite: a read, the counts, three inserts (BEGIN IMMEDIATE already serializes writers).
    # PostgreSQL: the read locks the tenant's settings row, so the quota counts read after it
    # cannot race; the counts and the three inserts are then one statement.
    assert len(seen) == (5 if svc.db.is_sqlite else 2), "\n".join(seen)
    written = seen[2:] if svc.db.is_sqlite else [seen[-1]]
    tables = ("tenant_extension_schedule ", "extsched_embedded_schedule", "tenant_extension_audit")
    assert [sum(t in s for s in written) for t in tables] == [1, 1, 1], "\n".join(seen)


async def test_a_sqlite_statement_is_one_trip_to_the_connections_thread(tmp_path: Any) -> None:
    """The driver's thread hand-offs cost more than SQLite's work on small statements: a read
    (with its rows) and a write each make exactly one."""
    import sqlalchemy as sa

    from extsched.store import sqlite_driver

    trips = 0
    real = sqlite_driver.OneTripCursor._on_thread

    async def counted(self: Any, call: Any) -> Any:
        nonlocal trips
        trips += 1
        return await real(self, call)

    db = Database(f"sqlite:///{tmp_path}/trips.db")
    try:
        async with db.transaction() as conn:
            await conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        sqlite_driver.OneTripCursor._on_thread = counted  # type: ignore[method-assign]
        try:
            async with db.transaction() as conn:
                trips = 0
                await conn.execute(sa.text("INSERT INTO t (v) VALUES ('a'), ('b')"))
                assert trips == 1
                rows = (await conn.execute(sa.text("SELECT v FROM t ORDER BY id"))).all()
                assert trips == 2 and [r.v for r in rows] == ["a", "b"]
                result = await conn.execute(sa.text("UPDATE t SET v = 'c' WHERE v = 'a'"))
                assert trips == 3 and result.rowcount == 1
        finally:
            sqlite_driver.OneTripCursor._on_thread = real  # type: ignore[method-assign]
        async with db.connect() as conn:
            assert (
                await conn.execute(sa.text("SELECT count(*) FROM t WHERE v = 'c'"))
            ).scalar() == 1
    finally:
        await db.dispose()


async def test_one_statement_writing_several_rows_reports_a_name_taken_and_writes_none(
    db: Database,
) -> None:
    """A unique violation in any of the inserts becomes its row's outcome; nothing is written."""
    import sqlalchemy as sa

    from extsched.domain.records import AuditEntry, Schedule
    from extsched.errors import NameTaken
    from extsched.store.new_rows import NewRow
    from extsched.store.schedule_repo import ScheduleRepo
    from extsched.store.tables import tenant_extension_audit as audit_t
    from extsched.store.tables import tenant_extension_schedule as sched_t
    from extsched.store.tenant_repo import audit_row

    at = datetime(2027, 1, 1, tzinfo=UTC)

    def a_schedule(schedule_id: str) -> Schedule:
        return Schedule(
            tenant_id="tenant-a",
            id=schedule_id,
            install_id="inst-1",
            endpoint_id="ep-1",
            name="nightly",
            cron="0 3 * * *",
            timezone="UTC",
            enabled=True,
            payload_json=None,
            max_attempts=3,
            jitter_seconds=0,
            runner_schedule_id=f"extsched:tenant-a:inst-1:{schedule_id}",
            disabled_reason=None,
            last_run_at=None,
            last_run_status=None,
            last_error=None,
            last_success_at=None,
            consecutive_failures=0,
            revision=1,
            created_at=at,
            updated_at=at,
        )

    first, twin = a_schedule("s-1"), a_schedule("s-2")

    def audit_of(schedule_id: str) -> NewRow:
        entry = AuditEntry(
            "tenant-a",
            f"a-{schedule_id}",
            "alice",
            "schedule.created",
            "schedule",
            schedule_id,
            {},
            at,
        )
        return audit_row(entry)

    async with db.transaction() as conn:
        await ScheduleRepo(conn).insert(first, audit_of("s-1"))
    with pytest.raises(NameTaken):
        async with db.transaction() as conn:
            await ScheduleRepo(conn).insert(twin, audit_of("s-2"))
    async with db.connect() as conn:
        ids = (await conn.execute(sa.select(sched_t.c.id))).scalars().all()
        audited = (await conn.execute(sa.select(audit_t.c.target_id))).scalars().all()
    assert (ids, audited) == (["s-1"], ["s-1"])


@pytest.mark.postgres
async def test_a_pooled_connection_is_pinged_only_after_it_idled(pg_url: str) -> None:
    """A connection's server-side session killed behind the pool's back (as a server restart
    does): a connection that idled past the limit is replaced at check-out, unnoticed by the
    use case; one used within the limit is trusted, so the first use case meets the disconnect
    and the pool is renewed for the next."""
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    async def kill_sessions() -> None:
        killer = Database(pg_url)
        try:
            async with killer.engine.connect() as conn:
                await conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
        finally:
            await killer.dispose()

    async def one(db: Database) -> int:
        async with db.connect() as conn:
            return int((await conn.execute(sa.text("SELECT 1"))).scalar_one())

    pinging = Database(pg_url, ping_after_idle=0)
    trusting = Database(pg_url, ping_after_idle=3600)
    try:
        for db in (pinging, trusting):
            assert await one(db) == 1
        await kill_sessions()  # both pools' idle connections
        assert await one(pinging) == 1
        with pytest.raises(DBAPIError) as failed:
            await one(trusting)
        assert failed.value.connection_invalidated
        assert await one(trusting) == 1
    finally:
        await pinging.dispose()
        await trusting.dispose()
