"""A real PostgreSQL stopped and started under a running worker and dispatcher: nothing answered
is lost or called twice, every loop comes back on its own, and the log says so without flooding."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.services.container import Services
from extsched.store.db import Database
from extsched.store.tables import embedded_schedule
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule_run as run_t
from tests.support.burst import count_runs, prepare_due
from tests.support.postgres import PostgresServer
from tests.support.runner_stub import RunnerStub, hang, runner_stub

pytestmark = pytest.mark.postgres

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DUE = 30


@pytest.fixture(scope="module")
def own_pg() -> Iterator[PostgresServer]:
    """A server of this module's own: the tests stop and start it."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def world(own_pg: PostgresServer) -> AsyncIterator[tuple[Services, RunnerStub]]:
    name = own_pg.create_database()
    url = own_pg.url(name)
    clock = ManualClock(T0)
    async with runner_stub() as stub:
        await prepare_due(url, stub.url, DUE, clock, T0)
        db = Database(url)
        svc = Services.build(Settings(database_url=url, runner_base_url=stub.url), db, clock)
        try:
            yield svc, stub
        finally:
            await svc.close()
            await db.dispose()
            own_pg.drop_database(name)


async def until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> Callable[[], bool]:
    return lambda: any(text in r.getMessage() for r in caplog.records)


@pytest.mark.reliability(
    fault="PostgreSQL stopped in the middle of a burst, then started",
    guarantee="answers received meanwhile are written once it is back; no run lost, none called twice",
)
async def test_answers_received_while_the_database_is_away_are_written_when_it_is_back(
    own_pg: PostgresServer,
    world: tuple[Services, RunnerStub],
    caplog: pytest.LogCaptureFixture,
    observed: list[str],
) -> None:
    svc, stub = world
    assert svc.engine is not None
    clock = svc.clock
    assert isinstance(clock, ManualClock)
    release = asyncio.Event()
    stub.default = hang(release)
    await svc.engine.dispatcher.dispatch_due()
    stop = asyncio.Event()
    worker = svc.engine.worker
    running = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: len(stub.calls) == DUE, "every call to arrive")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="extsched"):
            own_pg.halt()
            release.set()  # the Runner answers every call while the database is away
            await until(logged(caplog, "writing run outcomes failed"), "a failed write")
            await asyncio.sleep(3)  # several more passes of every loop fail meanwhile
            # Long enough that every lease has run out: the worker still holds the answers.
            clock.advance(timedelta(minutes=5))
            own_pg.resume()
            await until(logged(caplog, "writing run outcomes works again"), "the write")
        assert await count_runs(svc.db.url) == {"success": DUE}
        assert len(stub.calls) == DUE  # nobody called the Runner a second time
        async with svc.db.connect() as conn:
            outcomes = (
                await conn.execute(sa.select(attempt_t.c.outcome, attempt_t.c.attempt))
            ).all()
        assert sorted(outcomes) == [("success", 1)] * DUE
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        tracebacks = [r.getMessage() for r in errors if r.exc_info]
        # One traceback per failing loop, not one per pass.
        assert len(tracebacks) == len(set(tracebacks)) <= 4, tracebacks
        assert len(errors) <= 8, [r.getMessage() for r in errors]
        observed.append(
            f"{DUE} runs answered while PostgreSQL was stopped: {DUE} written once it was back, "
            f"{len(stub.calls)} Runner calls; {len(tracebacks)} tracebacks, {len(errors)} error lines"
        )
    finally:
        stop.set()
        await running


@pytest.mark.reliability(
    fault="PostgreSQL away while the dispatcher runs",
    guarantee="the dispatcher loop comes back on its own and dispatches what became due",
)
async def test_the_dispatcher_keeps_dispatching_after_the_database_was_away(
    own_pg: PostgresServer,
    world: tuple[Services, RunnerStub],
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc, _ = world
    assert svc.engine is not None
    dispatcher = svc.engine.dispatcher
    async with svc.db.transaction() as conn:  # nothing due for now
        await conn.execute(
            embedded_schedule.update().values(
                next_fire_for=T0 + timedelta(days=1), fire_at=T0 + timedelta(days=1)
            )
        )
    stop = asyncio.Event()
    running = svc.loops.start("dispatcher", lambda: dispatcher.run(stop))
    try:
        with caplog.at_level(logging.INFO, logger="extsched"):
            own_pg.halt()
            dispatcher.backend.schedules_changed.set()  # a pass now, against no database
            await until(logged(caplog, "dispatch pass failed"), "a failed pass")
            own_pg.resume()
            async with svc.db.transaction() as conn:
                await conn.execute(embedded_schedule.update().values(next_fire_for=T0, fire_at=T0))
            dispatcher.backend.schedules_changed.set()
            await until(logged(caplog, "dispatch pass works again"), "a pass that works")
        assert await count_runs(svc.db.url) == {"queued": DUE}
        assert running.done() is False and svc.loops.down == {}
    finally:
        stop.set()
        await running


@pytest.mark.reliability(
    fault="a database failure right after a good dispatcher pass",
    guarantee="the loop survives; one traceback, then a summary a minute",
)
async def test_a_failure_right_after_a_good_pass_does_not_end_the_dispatcher(
    world: tuple[Services, RunnerStub],
) -> None:
    """The pass dispatched, then reading the next fire time failed: the loop goes on."""
    svc, _ = world
    assert svc.engine is not None
    dispatcher = svc.engine.dispatcher
    real = dispatcher.next_fire_at
    failed = asyncio.Event()

    async def failing_once() -> datetime | None:
        if not failed.is_set():
            failed.set()
            raise ConnectionError("connection refused")
        return await real()

    dispatcher.next_fire_at = failing_once  # type: ignore[method-assign]
    async with svc.db.transaction() as conn:
        await conn.execute(embedded_schedule.update().values(next_fire_for=T0, fire_at=T0))
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        await until(failed.is_set, "the failure")
        async with svc.db.connect() as conn:
            first = (await conn.execute(sa.select(sa.func.count()).select_from(run_t))).scalar()
        assert first == DUE
        # Still alive: a schedule made due now is dispatched.
        later = T0 + timedelta(minutes=10)
        svc.clock.set(later)  # type: ignore[attr-defined]
        async with svc.db.transaction() as conn:
            await conn.execute(
                embedded_schedule.update().values(next_fire_for=later, fire_at=later)
            )
        dispatcher.backend.schedules_changed.set()

        async def runs() -> int:
            async with svc.db.connect() as conn:
                q = sa.select(sa.func.count()).select_from(run_t)
                return int((await conn.execute(q)).scalar_one())

        deadline = time.monotonic() + 30
        while await runs() < 2 * DUE:
            assert time.monotonic() < deadline and not running.done()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
