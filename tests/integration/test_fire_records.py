"""What recording fires from an outside engine (Temporal) writes, through the run pipeline and a
real database: every occurrence accounted for once, whatever order the fires arrive in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy import event

from extsched.backends.ports import Fire, Started
from extsched.backends.temporal.activities import Activities, Limits
from extsched.backends.temporal.workflows import RunJob
from extsched.clock import ManualClock
from extsched.domain.runs import new_run
from extsched.store.db import Database
from extsched.store.run_queue import RunQueue
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule_run as run_t
from tests.conftest import START, Personas

BASE = "/api/extensions/acme.sample/schedules"
WINDOW = timedelta(minutes=10)
LEASE = timedelta(seconds=35)


@contextmanager
def transactions(db: Database) -> Iterator[list[int]]:
    """The transactions committed meanwhile: one entry per commit, the statements it held
    (transaction control aside)."""
    counts: list[int] = []
    current = [0]

    def statement(_c: Any, _cur: Any, text: str, *_: Any) -> None:
        if not text.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            current[0] += 1

    def commit(*_: Any) -> None:
        counts.append(current[0])
        current[0] = 0

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


async def records(client: httpx.AsyncClient, personas: Personas, schedule_id: str) -> list[Any]:
    r = await client.get(f"{BASE}/{schedule_id}/runs", headers=personas.admin_a.headers)
    return sorted(
        (run["scheduledFor"], run["status"], run["skipReason"], run["error"])
        for run in r.json()["runs"]
    )


def missed(first: str, count: int, last: str | None = None) -> tuple[str, str, str, str]:
    """The one ``missed`` record of ``count`` occurrences from ``first`` (to ``last``)."""
    span = f"from {first}" + (f" to {last}" if last else "")
    plural = "s" if count != 1 else ""
    error = (
        f"missed {count} occurrence{plural} {span} (after downtime only the newest occurrence"
        " within the catch-up window runs)"
    )
    return (first, "missed", "catchup_window", error)


async def every_five_minutes(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> Any:
    body = {"endpointId": ext["endpoints"]["POST /sync"], "cron": "*/5 * * * *"}
    r = await client.post(BASE, json=body, headers=personas.admin_a.headers)
    assert r.status_code == 201, r.text
    return r.json()


def firing(
    app: FastAPI, clock: ManualClock, tenant: str, schedule_id: str
) -> Callable[[int], Awaitable[Any]]:
    """Temporal's fire of the occurrence ``minutes`` after START, recorded now."""

    async def fire(minutes: int) -> Any:
        at = START + timedelta(minutes=minutes)
        [run] = await app.state.services.pipeline.record_fired(
            [Fire(tenant, schedule_id, at)], clock.now(), WINDOW
        )
        return run

    return fire


async def test_fires_after_an_outage_in_any_order_account_for_each_occurrence_once(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    app: FastAPI,
    clock: ManualClock,
) -> None:
    schedule = await every_five_minutes(client, personas, ext)
    fire = firing(app, clock, str(personas.admin_a.tenant), schedule["id"])

    # Created at 09:00; Temporal was away from 09:01 to 09:20:10, and its catch-up fires only
    # 09:20, then 09:15 (inside the window, but after the newer fire counted it).
    clock.set(START + timedelta(minutes=20, seconds=10))
    ran = await fire(20)
    assert ran is not None
    assert await fire(15) is None
    assert await fire(20) == ran  # the same occurrence again: the same run
    assert await records(client, personas, schedule["id"]) == [
        missed("2027-01-04T09:05:00Z", 3, "2027-01-04T09:15:00Z"),
        ("2027-01-04T09:20:00Z", "queued", None, None),
    ]


async def test_fires_passed_over_while_a_run_was_active_are_recorded_as_overlaps(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    app: FastAPI,
    clock: ManualClock,
) -> None:
    """The 09:05 run's call lasted until 09:12, so Temporal (overlap SKIP) passed over 09:10;
    nothing was active at 09:15, which Temporal did not fire either (it was away)."""
    schedule = await every_five_minutes(client, personas, ext)
    fire = firing(app, clock, str(personas.admin_a.tenant), schedule["id"])

    clock.set(START + timedelta(minutes=5, seconds=1))
    first = await fire(5)
    assert first is not None
    async with app.state.services.db.transaction() as conn:
        await conn.execute(
            run_t.update()
            .where(run_t.c.tenant_id == first[0], run_t.c.id == first[1])
            .values(status="success", finished_at=START + timedelta(minutes=12))
        )
    clock.set(START + timedelta(minutes=20, seconds=1))
    assert await fire(20) is not None
    assert await records(client, personas, schedule["id"]) == [
        ("2027-01-04T09:05:00Z", "success", None, None),
        ("2027-01-04T09:10:00Z", "skipped", "overlap", None),
        missed("2027-01-04T09:15:00Z", 1),
        ("2027-01-04T09:20:00Z", "queued", None, None),
    ]


async def test_fires_recorded_together_are_judged_as_if_one_after_the_other(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    app: FastAPI,
    clock: ManualClock,
) -> None:
    """A batch (a Temporal worker records concurrent fires together) with two fires of one
    schedule, the same fire twice and a schedule deleted meanwhile: each fire gets what it would
    have got alone, in order."""
    one, other, gone = [await every_five_minutes(client, personas, ext) for _ in range(3)]
    h = personas.admin_a.headers
    assert (await client.delete(f"{BASE}/{gone['id']}", headers=h)).status_code == 204
    tenant = personas.admin_a.tenant
    assert tenant is not None
    at5, at10 = START + timedelta(minutes=5), START + timedelta(minutes=10)
    clock.set(at10 + timedelta(seconds=1))
    fires = [
        Fire(tenant, one["id"], at5),  # Temporal's late catch-up fire, then the current one
        Fire(tenant, one["id"], at10),
        Fire(tenant, other["id"], at10),
        Fire(tenant, other["id"], at10),  # delivered twice
        Fire(tenant, gone["id"], at10),
    ]
    runs = await app.state.services.pipeline.record_fired(fires, clock.now(), WINDOW)
    assert [r is not None for r in runs] == [False, True, True, True, False]
    assert runs[2] == runs[3]  # the same occurrence: the same run
    assert await records(client, personas, one["id"]) == [
        missed("2027-01-04T09:05:00Z", 1),
        ("2027-01-04T09:10:00Z", "queued", None, None),
    ]


async def test_a_fire_is_recorded_and_its_run_started_in_one_transaction(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    app: FastAPI,
    clock: ManualClock,
) -> None:
    """What a Temporal fire's activity does before the call: one transaction records the fire
    and starts its run with the context the call needs. A second delivery of the same fire,
    while the run is held, finds that run and starts nothing."""
    schedule = await every_five_minutes(client, personas, ext)
    tenant = personas.admin_a.tenant
    assert tenant is not None
    pipeline = app.state.services.pipeline
    clock.set(START + timedelta(minutes=5, seconds=1))
    now = clock.now()
    fire = Fire(tenant, schedule["id"], START + timedelta(minutes=5))
    with transactions(app.state.services.db) as begun:
        [started] = await pipeline.begin_fired("worker-1", [fire], now, WINDOW, now + LEASE)
    # The schedule's facts, its retry budget, whether it is busy; the run inserted, started;
    # the schedule with its endpoint, the install with its version's hash and the kill switch.
    assert begun == [7]
    assert isinstance(started, Started)
    run = started.ctx.run
    assert (run.status, run.attempt, run.lease_owner) == ("running", 1, "worker-1")
    assert run.lease_expires_at == now + LEASE
    assert started.ctx.schedule is not None and started.ctx.schedule.id == schedule["id"]
    assert started.ctx.endpoint is not None and started.ctx.install is not None
    assert not started.overlap

    [again] = await pipeline.begin_fired("worker-2", [fire], now, WINDOW, now + LEASE)
    assert again == (tenant, run.id)
    assert await records(client, personas, schedule["id"]) == [
        ("2027-01-04T09:05:00Z", "running", None, None)
    ]


async def test_fires_begun_together_start_each_run_once(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    app: FastAPI,
    clock: ManualClock,
) -> None:
    one, other = [await every_five_minutes(client, personas, ext) for _ in range(2)]
    tenant = personas.admin_a.tenant
    assert tenant is not None
    at5, at10 = START + timedelta(minutes=5), START + timedelta(minutes=10)
    clock.set(at10 + timedelta(seconds=1))
    now = clock.now()
    fires = [
        Fire(tenant, one["id"], at5),  # a late catch-up fire, then the current one
        Fire(tenant, one["id"], at10),
        Fire(tenant, other["id"], at10),
        Fire(tenant, other["id"], at10),  # delivered twice
    ]
    with transactions(app.state.services.db) as begun:
        got = await app.state.services.pipeline.begin_fired(
            "worker-1", fires, now, WINDOW, now + LEASE
        )
    assert len(begun) == 2  # two fires of one schedule: judged one after the other
    assert got[0] is None
    assert isinstance(got[1], Started) and isinstance(got[2], Started)
    assert got[3] == (tenant, got[2].ctx.run.id)
    assert await records(client, personas, other["id"]) == [
        missed("2027-01-04T09:05:00Z", 1),  # never fired
        ("2027-01-04T09:10:00Z", "running", None, None),
    ]


async def test_an_attempt_finding_its_run_under_an_expired_lease_takes_it_back(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    app: FastAPI,
    clock: ManualClock,
) -> None:
    """A fire's worker went away after starting the run. The run's workflow, when it looks
    again after the lease's end, takes the run back (the lost attempt recorded) and retries it,
    instead of waiting on a lease nobody will end."""
    schedule = await every_five_minutes(client, personas, ext)
    tenant = personas.admin_a.tenant
    assert tenant is not None
    pipeline = app.state.services.pipeline
    clock.set(START + timedelta(minutes=5, seconds=1))
    now = clock.now()
    fire = Fire(tenant, schedule["id"], START + timedelta(minutes=5))
    [started] = await pipeline.begin_fired("gone", [fire], now, WINDOW, now + LEASE)
    assert isinstance(started, Started)
    key = (tenant, started.ctx.run.id)
    activities = Activities(pipeline, clock, Limits(timedelta(seconds=5), LEASE, WINDOW))
    job = RunJob(tenant, key[1], 5.0, LEASE.total_seconds())

    held = await activities.attempt(job, False)  # the lease still runs: look again at its end
    assert held == (now + LEASE).isoformat()
    clock.set(now + LEASE + timedelta(seconds=1))
    retry = await activities.attempt(job, False)
    async with app.state.services.db.connect() as conn:
        status, attempt, owner, due = (
            await conn.execute(
                sa.select(
                    run_t.c.status, run_t.c.attempt, run_t.c.lease_owner, run_t.c.next_attempt_at
                ).where(run_t.c.tenant_id == tenant, run_t.c.id == key[1])
            )
        ).one()
        lost = (
            await conn.execute(
                sa.select(attempt_t.c.outcome, attempt_t.c.worker).where(
                    attempt_t.c.tenant_id == tenant, attempt_t.c.run_id == key[1]
                )
            )
        ).all()
    assert (status, attempt, owner) == ("queued", 1, None)
    assert [tuple(r) for r in lost] == [("abandoned", "gone")]
    assert due > clock.now()
    assert retry == due.isoformat()  # the workflow looks again when the retry is due


async def test_a_fire_recorded_earlier_starts_as_an_overlap_while_its_schedule_is_busy(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    app: FastAPI,
    clock: ManualClock,
) -> None:
    """The overlap rule holds for a fire's run whichever transaction recorded it: one recorded
    by an earlier delivery starts as an overlap (to be skipped) while another run of its schedule
    is active; a fire recorded while the schedule is busy is skipped as it is recorded."""
    schedule = await every_five_minutes(client, personas, ext)
    tenant = personas.admin_a.tenant
    assert tenant is not None
    pipeline = app.state.services.pipeline
    clock.set(START + timedelta(minutes=5, seconds=1))
    now = clock.now()
    fire = Fire(tenant, schedule["id"], START + timedelta(minutes=5))
    [recorded] = await pipeline.record_fired([fire], now, WINDOW)  # an earlier delivery
    assert recorded is not None
    run_now = new_run(
        tenant_id=tenant,
        schedule_id=schedule["id"],
        install_id=schedule["installId"],
        trigger="manual",
        scheduled_for=now,
        idempotency_key="run-now",
        status="queued",
        max_attempts=1,
        now=now,
    )
    async with app.state.services.db.transaction() as conn:
        await RunQueue(conn).insert_new([run_now])

    [started] = await pipeline.begin_fired("worker-1", [fire], now, WINDOW, now + LEASE)
    assert isinstance(started, Started)
    assert (tenant, started.ctx.run.id) == recorded
    assert started.overlap

    later = Fire(tenant, schedule["id"], START + timedelta(minutes=10))
    clock.set(START + timedelta(minutes=10, seconds=1))
    now = clock.now()
    assert await pipeline.begin_fired("worker-1", [later], now, WINDOW, now + LEASE) == [None]
    assert ("2027-01-04T09:10:00Z", "skipped", "overlap", None) in await records(
        client, personas, schedule["id"]
    )
