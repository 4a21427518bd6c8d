"""The write path in statements and trips: creating a schedule is four statements on SQLite and
five on PostgreSQL, and a SQLite statement is one trip to its connection's thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
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
            seen.append(" ".join(statement.split())[:80])

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


async def test_creating_a_schedule_takes_four_or_five_statements(
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
    # SQLite: one read and three writes (BEGIN IMMEDIATE already serializes writers). PostgreSQL
    # locks the tenant's settings row first, so the quota counts read after it cannot race.
    assert len(seen) == (4 if svc.db.is_sqlite else 5), "\n".join(seen)


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
