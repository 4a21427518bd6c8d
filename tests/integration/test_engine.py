"""The embedded backend end to end with an injected clock: occurrences become runs, runs call the
Runner over real HTTP, and every outcome is recorded."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from extsched.api.app import create_app
from extsched.backends.base import schedule_key
from extsched.backends.embedded.engine import EmbeddedEngine
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.services.container import Services
from extsched.store.run_repo import RunRepo
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule_run as run_t
from tests.conftest import JWT_SECRET, Personas
from tests.support.runner_stub import RunnerStub, hang, ok, raw, runner_stub
from tests.support.seed import installed_sample

T0 = datetime(2027, 1, 4, 8, 59, 30, tzinfo=UTC)


@dataclass
class World:
    http: httpx.AsyncClient
    svc: Services
    engine: EmbeddedEngine
    stub: RunnerStub
    clock: ManualClock
    personas: Personas
    ext: dict[str, Any]

    @property
    def base(self) -> str:
        return "/api/extensions/acme.sample/schedules"

    async def schedule(self, **body: Any) -> dict[str, Any]:
        payload = {"endpointId": self.ext["endpoints"]["POST /sync"], "cron": "0 9 * * *", **body}
        r = await self.http.post(self.base, json=payload, headers=self.personas.admin_a.headers)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def runs(self, schedule_id: str) -> list[dict[str, Any]]:
        r = await self.http.get(
            f"{self.base}/{schedule_id}/runs", headers=self.personas.admin_a.headers
        )
        return list(r.json()["runs"])

    async def get(self, schedule_id: str) -> dict[str, Any]:
        r = await self.http.get(f"{self.base}/{schedule_id}", headers=self.personas.admin_a.headers)
        return dict(r.json())

    async def at(self, when: datetime) -> int:
        self.clock.set(when)
        return await self.engine.tick()


@pytest.fixture
async def world(db_url: str, personas: Personas) -> AsyncIterator[World]:
    clock = ManualClock(T0)
    async with runner_stub() as stub:
        settings = Settings(
            database_url=db_url,
            jwt_secret=JWT_SECRET,
            runner_base_url=stub.url,
            gateway_timeout_ms=2000,
        )
        app = create_app(settings, clock=clock, background=False)
        async with app.router.lifespan_context(app):
            svc: Services = app.state.services
            assert svc.engine is not None
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                ext = await installed_sample(http, personas.operator, personas.admin_a)
                yield World(http, svc, svc.engine, stub, clock, personas, ext)


def at(hh: int, mm: int, ss: int = 0, day: int = 4) -> datetime:
    return datetime(2027, 1, day, hh, mm, ss, tzinfo=UTC)


async def test_a_due_occurrence_runs_once_and_is_recorded(world: World) -> None:
    s = await world.schedule(payloadJson={"full": True})
    assert await world.at(at(8, 59, 59)) == 0
    assert world.stub.calls == []
    assert await world.at(at(9, 0, 1)) == 1
    assert await world.at(at(9, 0, 2)) == 0  # nothing twice
    [call] = world.stub.calls
    assert call["body"]["context"]["scheduled_for"] == "2027-01-04T09:00:00Z"
    assert call["body"]["context"]["trigger"] == "schedule"
    assert call["headers"]["x-idempotency-key"] == call["body"]["context"]["run_id"]
    [run] = await world.runs(s["id"])
    assert run["status"] == "success"
    assert (run["trigger"], run["scheduledFor"], run["attempt"], run["httpStatus"]) == (
        "schedule",
        "2027-01-04T09:00:00Z",
        1,
        200,
    )
    assert run["requestId"] == call["headers"]["x-request-id"]
    assert run["error"] is None and run["finishedAt"] is not None
    got = await world.get(s["id"])
    assert got["lastRunStatus"] == "success"
    assert got["lastRunAt"] == "2027-01-04T09:00:01Z"
    assert got["lastSuccessAt"] == "2027-01-04T09:00:01Z"
    assert got["nextRunAt"] == "2027-01-05T09:00:00Z"


async def test_a_retryable_failure_backs_off_then_succeeds_and_every_attempt_is_kept(
    world: World,
) -> None:
    s = await world.schedule()
    world.stub.script = [ok(503, {"error": "busy"}), raw(502, "bad gateway")]
    await world.at(at(9, 0))
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"], run["httpStatus"]) == ("queued", 1, 503)
    assert await world.at(at(9, 0, 9)) == 0  # backoff 10 s not over
    assert await world.at(at(9, 0, 10)) == 1
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"]) == ("queued", 2)
    assert await world.at(at(9, 0, 29)) == 0  # then 20 s
    assert await world.at(at(9, 0, 30)) == 1
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"], run["error"]) == ("success", 3, None)
    ids = {c["body"]["context"]["run_id"] for c in world.stub.calls}
    assert ids == {run["id"]}
    assert [c["body"]["context"]["attempt"] for c in world.stub.calls] == [1, 2, 3]
    assert len({c["headers"]["x-request-id"] for c in world.stub.calls}) == 3
    async with world.svc.db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(attempt_t.c.attempt, attempt_t.c.outcome, attempt_t.c.http_status)
                .where(attempt_t.c.run_id == run["id"])
                .order_by(attempt_t.c.attempt)
            )
        ).all()
    assert [tuple(r) for r in rows] == [(1, "error", 503), (2, "error", None), (3, "success", 200)]
    got = await world.get(s["id"])
    assert (got["consecutiveFailures"], got["lastError"]) == (0, None)


async def test_a_permanent_failure_is_not_retried(world: World) -> None:
    s = await world.schedule()
    world.stub.default = ok(404, {"error": "gone"})
    await world.at(at(9, 0))
    await world.at(at(9, 10))
    assert len(world.stub.calls) == 1
    [run] = await world.runs(s["id"])
    assert (run["status"], run["httpStatus"], run["attempt"]) == ("error", 404, 1)
    assert run["error"] == 'extension answered 404: {"error": "gone"}'
    got = await world.get(s["id"])
    assert (got["lastRunStatus"], got["consecutiveFailures"]) == ("error", 1)
    assert got["lastError"] == run["error"]


async def test_attempts_stop_at_max_attempts_with_the_last_status(world: World) -> None:
    s = await world.schedule(maxAttempts=2)
    world.stub.default = raw(500, "down")
    await world.at(at(9, 0))
    await world.at(at(9, 0, 10))
    await world.at(at(9, 5))
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"], run["error"]) == (
        "error",
        2,
        "runner answered HTTP 500: down",
    )
    assert len(world.stub.calls) == 2


async def test_an_occurrence_during_a_live_run_is_skipped_as_overlap(world: World) -> None:
    s = await world.schedule(cron="*/5 * * * *")
    release = asyncio.Event()
    world.stub.script = [hang(release)]
    world.clock.set(at(9, 0))
    await world.engine.dispatcher.dispatch_due()
    await world.engine.worker.prepare(await world.engine.worker.claim())
    await world.engine.worker.start_due()
    await world.stub.arrived.wait()
    world.clock.set(at(9, 5))
    await world.engine.worker.renew_leases()  # what the renewal loop does while a call lasts
    try:
        report = await world.engine.dispatcher.dispatch_due()
    finally:
        release.set()
    assert (report.queued, report.skipped) == (0, 1)
    await world.engine.worker.settled()
    await world.engine.worker.flush()
    statuses = sorted(
        (r["scheduledFor"], r["status"], r["skipReason"]) for r in await world.runs(s["id"])
    )
    assert statuses == [
        ("2027-01-04T09:00:00Z", "success", None),
        ("2027-01-04T09:05:00Z", "skipped", "overlap"),
    ]


@pytest.mark.reliability(
    fault="the service stopped for two hours (injected time)",
    guarantee="one missed record counting the occurrences outside the catch-up window, one run for the newest within it",
)
async def test_after_two_hours_down_one_run_and_one_missed_record(world: World) -> None:
    s = await world.schedule(cron="*/5 * * * *")
    await world.at(at(9, 0))
    assert len(world.stub.calls) == 1
    # Down from 09:02 to 11:02: 24 occurrences (09:05 ... 11:00) came and went.
    await world.at(at(11, 2))
    runs = await world.runs(s["id"])
    assert [(r["scheduledFor"], r["status"]) for r in runs] == [
        ("2027-01-04T11:00:00Z", "success"),
        ("2027-01-04T09:05:00Z", "missed"),
        ("2027-01-04T09:00:00Z", "success"),
    ]
    missed = runs[1]
    assert missed["error"] == (
        "missed 23 occurrences from 2027-01-04T09:05:00Z to 2027-01-04T10:55:00Z "
        "(after downtime only the newest occurrence within the catch-up window runs)"
    )
    assert len(world.stub.calls) == 2
    await world.at(at(11, 5))
    assert len(world.stub.calls) == 3


async def test_a_disabled_install_or_the_kill_switch_stops_runs(world: World) -> None:
    s = await world.schedule(cron="*/5 * * * *")
    h = world.personas.admin_a.headers
    await world.http.post(f"/api/v1/extensions/{world.ext['install']['id']}/disable", headers=h)
    await world.at(at(9, 0))
    assert world.stub.calls == [] and await world.runs(s["id"]) == []
    await world.http.post(f"/api/v1/extensions/{world.ext['install']['id']}/enable", headers=h)
    await world.http.put("/api/tenant/settings", json={"schedulesPaused": True}, headers=h)
    await world.at(at(9, 5))
    assert world.stub.calls == [] and await world.runs(s["id"]) == []
    await world.http.put("/api/tenant/settings", json={"schedulesPaused": False}, headers=h)
    await world.at(at(9, 10))
    assert len(world.stub.calls) == 1
    # Resuming does not back-fill what was paused.
    assert [r["scheduledFor"] for r in await world.runs(s["id"])] == ["2027-01-04T09:10:00Z"]


async def test_a_run_queued_before_the_install_was_disabled_is_skipped_at_run_time(
    world: World,
) -> None:
    s = await world.schedule()
    world.clock.set(at(9, 0))
    await world.engine.dispatcher.dispatch_due()
    await world.http.post(
        f"/api/v1/extensions/{world.ext['install']['id']}/disable",
        headers=world.personas.admin_a.headers,
    )
    await world.engine.worker.run_once()
    [run] = await world.runs(s["id"])
    assert (run["status"], run["skipReason"]) == ("skipped", "extension_disabled")
    assert world.stub.calls == []


async def test_a_schedule_whose_endpoint_left_the_version_fails_and_is_disabled(
    world: World,
) -> None:
    s = await world.schedule()
    # Point the schedule at an endpoint of another version, as a broken upgrade would.
    other = await world.http.post(
        f"/api/registry/extensions/{world.ext['registryId']}/versions",
        json={
            "version": "2.0.0",
            "contentHash": "sha256:" + "b" * 64,
            "manifest": {
                "api": {"endpoints": [{"method": "POST", "path": "/other", "handler": "h"}]}
            },
        },
        headers=world.personas.operator.headers,
    )
    from extsched.store.tables import tenant_extension_schedule as sched_t

    async with world.svc.db.transaction() as conn:
        await conn.execute(
            sched_t.update()
            .where(sched_t.c.id == s["id"])
            .values(endpoint_id=other.json()["endpoints"][0]["id"])
        )
    await world.at(at(9, 0))
    [run] = await world.runs(s["id"])
    assert (run["status"], run["error"]) == (
        "error",
        "the schedule's endpoint is not part of the installed version",
    )
    got = await world.get(s["id"])
    assert (got["enabled"], got["disabledReason"]) == (False, "endpoint_missing")
    await world.svc.sync.apply_due()
    described = await world.svc.backend.describe(
        s["runnerScheduleId"] if "runnerScheduleId" in s else _key(world, s)
    )
    assert described is not None and described.paused
    assert world.stub.calls == []


def _key(world: World, s: dict[str, Any]) -> str:
    return schedule_key("tenant-a", world.ext["install"]["id"], s["id"])


async def test_the_runner_gets_the_installs_current_content_hash_and_payload(world: World) -> None:
    """The run is prepared (context read, request built) ten seconds ahead; the install moves
    to another version and the payload changes before the fire time: the call carries both."""
    from tests.support.seed import content_hash, publish

    s = await world.schedule(payloadJson={"v": 1})
    v2 = await publish(
        world.http, world.personas.operator, registry_id=world.ext["registryId"], version="2.0.0"
    )
    worker = world.engine.worker
    world.clock.set(at(8, 59, 55))
    await world.engine.dispatcher.dispatch_due()
    await worker.prepare(await worker.claim())
    [prepared] = worker._prepared.values()
    assert prepared.ctx.content_hash == content_hash("1.0.0")
    assert prepared.ctx.prepared_request is not None
    r = await world.http.post(
        "/api/v1/extensions/update",
        json={"registryId": world.ext["registryId"], "version": "2.0.0"},
        headers=world.personas.admin_a.headers,
    )
    assert r.status_code == 200, r.text
    await world.http.patch(
        f"{world.base}/{s['id']}",
        json={"payloadJson": {"v": 2}},
        headers=world.personas.admin_a.headers,
    )
    world.clock.set(at(9, 0))
    assert await worker.start_due() == 1
    await worker.settled()
    await worker.flush()
    [call] = world.stub.calls
    body = call["body"]
    assert body["context"]["content_hash"] == content_hash("2.0.0")
    assert body["context"]["version_id"] == v2["id"]
    assert json.loads(base64.b64decode(body["http"]["body_b64"])) == {"v": 2}


async def test_new_york_spring_forward_fires_at_the_first_instant_after_the_gap(
    world: World,
) -> None:
    world.clock.set(datetime(2027, 3, 13, 12, 0, tzinfo=UTC))
    s = await world.schedule(cron="30 2 * * *", timezone="America/New_York")
    assert s["nextRunAt"] == "2027-03-14T07:00:00Z"
    await world.at(datetime(2027, 3, 14, 7, 0, 1, tzinfo=UTC))
    [run] = await world.runs(s["id"])
    assert run["scheduledFor"] == "2027-03-14T07:00:00Z"
    assert (
        world.stub.calls[0]["body"]["http"]["headers"]["x-alga-scheduled-for"]
        == "2027-03-14T07:00:00Z"
    )


async def test_jitter_delays_the_call_but_not_the_scheduled_time(world: World) -> None:
    from extsched.backends.embedded.timing import jitter_offset

    s = await world.schedule(jitterSeconds=120)
    offset = jitter_offset(s["id"], at(9, 0), 120)
    assert timedelta(0) <= offset < timedelta(seconds=120)
    if offset >= timedelta(seconds=1):
        await world.at(at(9, 0) + offset - timedelta(seconds=1))
        assert world.stub.calls == []
    await world.at(at(9, 0) + offset)
    [run] = await world.runs(s["id"])
    assert run["scheduledFor"] == "2027-01-04T09:00:00Z"
    assert len(world.stub.calls) == 1
    described = await world.svc.backend.describe(_key(world, s))
    assert described is not None and described.next_fire_times[0] == at(9, 0, day=5)


async def run_now(world: World, schedule_id: str, key: str | None = None) -> httpx.Response:
    headers = dict(world.personas.admin_a.headers)
    if key:
        headers["Idempotency-Key"] = key
    return await world.http.post(f"{world.base}/{schedule_id}/run-now", headers=headers)


async def test_run_now_runs_at_once_even_on_a_disabled_schedule(world: World) -> None:
    s = await world.schedule(enabled=False)
    r = await run_now(world, s["id"])
    assert r.status_code == 202
    run = r.json()
    assert (run["trigger"], run["status"], run["scheduledFor"]) == (
        "run_now",
        "queued",
        "2027-01-04T08:59:30Z",
    )
    assert await world.engine.worker.run_once() == 1
    [done] = await world.runs(s["id"])
    assert (done["id"], done["status"]) == (run["id"], "success")
    assert world.stub.calls[0]["body"]["context"]["trigger"] == "run_now"
    assert world.stub.calls[0]["body"]["http"]["headers"]["x-alga-trigger"] == "run_now"


async def test_run_now_is_idempotent_by_key_and_by_repeat_click(world: World) -> None:
    s = await world.schedule()
    first = await run_now(world, s["id"], key="k-1")
    again = await run_now(world, s["id"], key="k-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    # A click without a key while a run-now run is queued gets that run.
    click = await run_now(world, s["id"])
    assert (click.status_code, click.json()["id"]) == (200, first.json()["id"])
    await world.engine.worker.run_once()
    click = await run_now(world, s["id"])
    assert click.status_code == 202
    second_click = await run_now(world, s["id"])
    assert (second_click.status_code, second_click.json()["id"]) == (200, click.json()["id"])
    await world.engine.worker.run_once()
    assert len(world.stub.calls) == 2
    # Once done, the same key still answers with the same run; a new click makes a new run.
    assert (await run_now(world, s["id"], key="k-1")).json()["id"] == first.json()["id"]
    assert (await run_now(world, s["id"])).status_code == 202


async def test_run_now_is_limited_to_five_per_tenant_per_minute(world: World) -> None:
    s = await world.schedule()
    for i in range(5):
        world.clock.advance(timedelta(seconds=1))
        assert (await run_now(world, s["id"], key=f"k{i}")).status_code == 202
    r = await run_now(world, s["id"], key="k5")
    assert (r.status_code, r.json()["code"]) == (429, "RATE_LIMITED")
    # The oldest of the five (at +1 s) leaves the window 60 s later; now is +5 s.
    assert r.headers["retry-after"] == "56"
    assert (await run_now(world, s["id"], key="k0")).status_code == 200  # repeats are free
    world.clock.advance(timedelta(seconds=56))
    assert (await run_now(world, s["id"], key="k5")).status_code == 202


async def test_run_now_is_refused_while_disabled_or_paused(world: World) -> None:
    s = await world.schedule()
    h = world.personas.admin_a.headers
    await world.http.post(f"/api/v1/extensions/{world.ext['install']['id']}/disable", headers=h)
    r = await run_now(world, s["id"])
    assert (r.status_code, r.json()["code"]) == (409, "EXTENSION_DISABLED")
    await world.http.post(f"/api/v1/extensions/{world.ext['install']['id']}/enable", headers=h)
    await world.http.put("/api/tenant/settings", json={"schedulesPaused": True}, headers=h)
    r = await run_now(world, s["id"])
    assert (r.status_code, r.json()["code"]) == (409, "SCHEDULES_PAUSED")
    r = await world.http.post(
        f"{world.base}/{s['id']}/run-now", headers=world.personas.reader_a.headers
    )
    assert r.status_code == 403
    r = await world.http.post(
        f"{world.base}/{s['id']}/run-now", headers=world.personas.admin_b.headers
    )
    assert r.status_code == 404
    entries = (await world.http.get("/api/tenant/audit", headers=h)).json()["entries"]
    assert "schedule.run_now" not in [e["action"] for e in entries]


async def test_a_dead_workers_run_is_retried_after_its_lease_and_completes_once(
    world: World,
) -> None:
    from extsched.backends.embedded.worker import Worker

    s = await world.schedule()
    release = asyncio.Event()
    world.stub.script = [hang(release)]
    world.clock.set(at(9, 0))
    await world.engine.dispatcher.dispatch_due()
    dead = Worker(
        world.svc.pipeline,
        world.clock,
        lease_ttl=world.engine.worker.lease_ttl,
        owner="dead-worker",
    )
    await dead.prepare(await dead.claim())
    await dead.start_due()
    await world.stub.arrived.wait()
    # The dead worker never renews. Before the lease expires nobody takes the run over...
    world.clock.set(at(9, 0, 31))
    assert await world.engine.worker.run_once() == 0
    # ...after it, the lost attempt counts and the retry waits its backoff.
    world.clock.set(at(9, 0, 33))
    assert await world.engine.worker.reap_expired() == 1
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"]) == ("queued", 1)
    assert run["error"] == "the worker running this attempt stopped before it finished"
    world.clock.set(at(9, 0, 43))
    assert await world.engine.worker.run_once() == 1
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"]) == ("success", 2)
    # Both attempts are on record: the lost one as abandoned, ended when it was taken back.
    async with world.svc.db.connect() as conn:
        attempts = await RunRepo(conn).attempts("tenant-a", run["id"])
    assert [(a["attempt"], a["outcome"], a["request_id"]) for a in attempts] == [
        (1, "abandoned", f"{run['id']}.1"),
        (2, "success", f"{run['id']}.2"),
    ]
    assert (attempts[0]["started_at"], attempts[0]["finished_at"]) == (at(9, 0), at(9, 0, 33))
    assert attempts[0]["error"] == "the worker running this attempt stopped before it finished"
    # The dead worker's call finally returns: its outcome is refused, the run stays as it is.
    release.set()
    await dead.settled()
    assert await dead.flush() == 1
    [after] = await world.runs(s["id"])
    assert after == run
    assert {c["headers"]["x-idempotency-key"] for c in world.stub.calls} == {run["id"]}
    # The schedule is not blocked: the next day runs normally.
    await world.at(at(9, 0, day=5))
    assert len(await world.runs(s["id"])) == 2


async def test_an_occurrence_delivered_twice_makes_one_run(world: World) -> None:
    from extsched.domain.runs import DueOccurrence

    s = await world.schedule()
    item = DueOccurrence("tenant-a", world.ext["install"]["id"], s["id"], run_for=at(9, 0))
    async with world.svc.db.transaction() as conn:
        first = await world.svc.pipeline.record_occurrences(conn, [item], at(9, 0))
    async with world.svc.db.transaction() as conn:
        second = await world.svc.pipeline.record_occurrences(conn, [item], at(9, 0, 1))
    assert (first.queued, second.queued, second.duplicates) == (1, 0, 1)
    assert len(await world.runs(s["id"])) == 1


async def test_metrics_count_runs_by_status_and_trigger(world: World) -> None:
    s = await world.schedule(cron="*/5 * * * *")
    await world.at(at(9, 0))
    await world.at(at(11, 2))
    await run_now(world, s["id"])
    world.clock.set(at(11, 4, 55))
    await world.engine.dispatcher.dispatch_due()  # 11:05 queued ahead: not a backlog
    text = (await world.http.get("/metrics")).text
    assert 'extsched_runs_total{status="success",trigger="schedule"} 2.0' in text
    assert 'extsched_runs_total{status="missed",trigger="schedule"} 1.0' in text
    assert "extsched_run_queue_depth 1.0" in text
    assert 'extsched_schedules{state="enabled"} 1.0' in text
    assert "extsched_fire_lag_seconds_count 2.0" in text
    assert "extsched_attempt_duration_seconds_count 2.0" in text
    assert "schedule_id" not in text


async def test_schedules_auto_disable_after_n_consecutive_failures(world: World) -> None:
    world.svc.pipeline.settlement.auto_disable_after = 2
    s = await world.schedule(cron="*/5 * * * *", maxAttempts=1)
    world.stub.default = ok(400, {"error": "bad config"})
    await world.at(at(9, 0))
    got = await world.get(s["id"])
    assert (got["enabled"], got["consecutiveFailures"]) == (True, 1)
    await world.at(at(9, 5))
    got = await world.get(s["id"])
    assert (got["enabled"], got["disabledReason"], got["consecutiveFailures"]) == (
        False,
        "too_many_failures",
        2,
    )
    await world.svc.sync.apply_due()
    described = await world.svc.backend.describe(_key(world, s))
    assert described is not None and described.paused
    await world.at(at(9, 10))
    assert len(world.stub.calls) == 2


async def test_stopping_the_worker_lets_a_call_in_flight_finish_and_be_recorded(
    world: World,
) -> None:
    s = await world.schedule()
    release = asyncio.Event()
    world.stub.script = [hang(release)]
    await run_now(world, s["id"])
    stop = asyncio.Event()
    loop = asyncio.create_task(world.engine.worker.run(stop, drain_timeout=10))
    await world.stub.arrived.wait()
    stop.set()
    await asyncio.sleep(0)  # the loop sees the stop and starts draining
    assert not loop.done()
    release.set()
    await asyncio.wait_for(loop, 10)
    [run] = await world.runs(s["id"])
    assert run["status"] == "success"


async def test_the_dispatcher_wakes_at_once_when_a_schedule_changes(world: World) -> None:
    """Nothing is due, so the dispatcher sleeps up to five seconds; a new schedule due within
    the lead makes it dispatch at once, well inside that sleep."""
    from extsched.backends.embedded import dispatcher as dispatcher_module

    queued = asyncio.Event()
    first_pass = asyncio.Event()
    passes = 0
    dispatcher = world.engine.dispatcher
    real_dispatch = dispatcher.dispatch_due

    async def counted(now: datetime | None = None) -> Any:
        nonlocal passes
        passes += 1
        try:
            return await real_dispatch(now)
        finally:
            first_pass.set()

    dispatcher.dispatch_due = counted  # type: ignore[method-assign]
    dispatcher.on_queued = queued.set
    stop = asyncio.Event()
    world.clock.set(at(9, 4, 55))  # 09:05 is within the ten-second lead from here
    loop = asyncio.create_task(dispatcher.run(stop))
    try:
        await asyncio.wait_for(first_pass.wait(), 5)
        await asyncio.sleep(0.05)  # the first pass found nothing and the loop sleeps
        assert passes == 1 and not queued.is_set()
        started = asyncio.get_running_loop().time()
        s = await world.schedule(cron="*/5 * * * *")  # its next fire is 09:05
        await asyncio.wait_for(queued.wait(), dispatcher_module.MAX_IDLE_SLEEP / 2)
        assert asyncio.get_running_loop().time() - started < dispatcher_module.MAX_IDLE_SLEEP
        assert passes == 2  # woken by the change, not by the timer
    finally:
        stop.set()
        await loop
    [run] = await world.runs(s["id"])
    assert (run["scheduledFor"], run["status"]) == ("2027-01-04T09:05:00Z", "queued")


async def test_a_failed_attempt_is_logged_with_its_ids(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    s = await world.schedule()
    world.stub.default = ok(404, {"error": "gone"})
    with caplog.at_level("INFO", logger="extsched.services.execution"):
        await world.at(at(9, 0))
    [run] = await world.runs(s["id"])
    [record] = [r for r in caplog.records if r.getMessage().startswith("attempt 1 of 3 failed")]
    assert (record.tenant_id, record.schedule_id, record.run_id, record.request_id) == (  # type: ignore[attr-defined]
        "tenant-a",
        s["id"],
        run["id"],
        run["requestId"],
    )
    assert "gone" in record.getMessage()


async def test_run_history_is_newest_first_and_paginated(world: World) -> None:
    s = await world.schedule(cron="*/5 * * * *")
    for minute in (0, 5, 10):
        await world.at(at(9, minute))
    url = f"{world.base}/{s['id']}/runs"
    h = world.personas.reader_a.headers
    page1 = (await world.http.get(url, params={"limit": 2}, headers=h)).json()
    assert [r["scheduledFor"] for r in page1["runs"]] == [
        "2027-01-04T09:10:00Z",
        "2027-01-04T09:05:00Z",
    ]
    page2 = (
        await world.http.get(url, params={"limit": 2, "cursor": page1["nextCursor"]}, headers=h)
    ).json()
    assert [r["scheduledFor"] for r in page2["runs"]] == ["2027-01-04T09:00:00Z"]
    assert page2["nextCursor"] is None


# Occurrences dispatched and prepared ahead of their fire time ------------------------------------


async def prepare_ahead(world: World, when: datetime) -> None:
    """What the loops do up to 10 s before a fire time: the run row, then the lease and context."""
    world.clock.set(when)
    await world.engine.dispatcher.dispatch_due()
    await world.engine.worker.prepare(await world.engine.worker.claim())


async def start_at(world: World, when: datetime) -> int:
    """What the worker loop does when the time has come: start, call, write the outcomes."""
    world.clock.set(when)
    worker = world.engine.worker
    started = await worker.start_due()
    await worker.settled()
    await worker.flush()
    return started


async def patch(world: World, schedule_id: str, body: dict[str, Any]) -> None:
    r = await world.http.patch(
        f"{world.base}/{schedule_id}", json=body, headers=world.personas.admin_a.headers
    )
    assert r.status_code == 200, r.text


async def test_an_occurrence_is_prepared_ahead_and_starts_exactly_on_time(world: World) -> None:
    s = await world.schedule()
    await prepare_ahead(world, at(8, 59, 49))  # 11 s ahead: not yet
    assert await world.runs(s["id"]) == []
    await prepare_ahead(world, at(8, 59, 50))
    [run] = await world.runs(s["id"])
    assert (run["status"], run["scheduledFor"], run["attempt"]) == (
        "queued",
        "2027-01-04T09:00:00Z",
        0,
    )
    described = await world.svc.backend.describe(_key(world, s))
    assert described is not None and described.next_fire_times[:2] == [at(9, 0), at(9, 0, day=5)]
    assert await start_at(world, at(8, 59, 59)) == 0  # never before its time
    assert world.stub.calls == []
    assert await start_at(world, at(9, 0)) == 1
    [call] = world.stub.calls
    assert call["body"]["context"]["attempt"] == 1
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"], run["startedAt"]) == (
        "success",
        1,
        "2027-01-04T09:00:00Z",
    )
    assert (await world.get(s["id"]))["nextRunAt"] == "2027-01-05T09:00:00Z"


async def test_a_payload_edited_after_preparing_is_the_one_sent(world: World) -> None:
    s = await world.schedule(payloadJson={"v": 1})
    await prepare_ahead(world, at(8, 59, 52))
    world.clock.set(at(8, 59, 55))
    await patch(world, s["id"], {"payloadJson": {"v": 2}})
    assert await start_at(world, at(9, 0)) == 1
    [call] = world.stub.calls
    assert json.loads(base64.b64decode(call["body"]["http"]["body_b64"])) == {"v": 2}


async def test_a_cron_changed_after_preparing_cancels_the_early_run(world: World) -> None:
    s = await world.schedule()
    await prepare_ahead(world, at(8, 59, 52))
    world.clock.set(at(8, 59, 55))
    await patch(world, s["id"], {"cron": "30 9 * * *"})
    assert await world.runs(s["id"]) == []  # the early run is gone with its occurrence
    assert await start_at(world, at(9, 0)) == 0
    assert world.stub.calls == []
    await prepare_ahead(world, at(9, 29, 51))
    assert await start_at(world, at(9, 30)) == 1
    assert [r["scheduledFor"] for r in await world.runs(s["id"])] == ["2027-01-04T09:30:00Z"]


async def test_disabling_and_enabling_before_the_fire_time_still_fires_once(world: World) -> None:
    s = await world.schedule()
    await prepare_ahead(world, at(8, 59, 51))
    world.clock.set(at(8, 59, 53))
    await patch(world, s["id"], {"enabled": False})
    assert await world.runs(s["id"]) == []
    world.clock.set(at(8, 59, 54))
    await patch(world, s["id"], {"enabled": True})
    await prepare_ahead(world, at(8, 59, 55))
    assert await start_at(world, at(9, 0)) == 1
    assert len(world.stub.calls) == 1
    [run] = await world.runs(s["id"])
    assert (run["scheduledFor"], run["status"]) == ("2027-01-04T09:00:00Z", "success")


async def test_the_kill_switch_after_preparing_stops_the_call(world: World) -> None:
    s = await world.schedule()
    await prepare_ahead(world, at(8, 59, 52))
    world.clock.set(at(8, 59, 55))
    h = world.personas.admin_a.headers
    r = await world.http.put("/api/tenant/settings", json={"schedulesPaused": True}, headers=h)
    assert r.status_code == 200
    assert await start_at(world, at(9, 0)) == 0
    assert world.stub.calls == [] and await world.runs(s["id"]) == []


async def test_an_install_disabled_after_preparing_skips_the_run(world: World) -> None:
    """The run was already due (dispatched at its time), then the install was disabled."""
    s = await world.schedule()
    await prepare_ahead(world, at(9, 0))
    await world.http.post(
        f"/api/v1/extensions/{world.ext['install']['id']}/disable",
        headers=world.personas.admin_a.headers,
    )
    assert await start_at(world, at(9, 0, 1)) == 1
    [run] = await world.runs(s["id"])
    assert (run["status"], run["skipReason"]) == ("skipped", "extension_disabled")
    assert world.stub.calls == []


@pytest.mark.parametrize("still_running", [True, False])
async def test_the_overlap_rule_is_applied_when_a_prepared_run_starts(
    world: World, still_running: bool
) -> None:
    s = await world.schedule()
    release = asyncio.Event()
    world.stub.script = [hang(release)]
    world.clock.set(at(8, 59, 45))
    await run_now(world, s["id"])
    worker = world.engine.worker
    await worker.prepare(await worker.claim(at(8, 59, 45)))
    assert await worker.start_due() == 1
    await world.stub.arrived.wait()
    await prepare_ahead(world, at(8, 59, 52))  # recorded queued although the run-now is running
    if not still_running:
        release.set()
        await worker.settled()
        await worker.flush()
    try:
        assert await start_at(world, at(9, 0)) == 1
    finally:
        release.set()
    await worker.settled()
    await worker.flush()
    scheduled = [r for r in await world.runs(s["id"]) if r["trigger"] == "schedule"]
    expected = ("skipped", "overlap") if still_running else ("success", None)
    assert [(r["status"], r["skipReason"]) for r in scheduled] == [expected]
    assert len(world.stub.calls) == (1 if still_running else 2)


async def test_a_worker_stopping_gives_back_the_runs_it_prepared(world: World) -> None:
    from extsched.backends.embedded.worker import Worker

    s = await world.schedule()
    world.clock.set(at(8, 59, 52))
    await world.engine.dispatcher.dispatch_due()
    leaving = Worker(
        world.svc.pipeline, world.clock, lease_ttl=world.engine.worker.lease_ttl, owner="leaving"
    )
    await leaving.prepare(await leaving.claim())
    await leaving.release()
    assert await start_at(world, at(9, 0)) == 0  # nothing prepared here yet...
    world.clock.set(at(9, 0))
    assert await world.engine.worker.run_once() == 1  # ...but free to take at once
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"]) == ("success", 1)


async def test_the_worker_loop_gives_back_its_prepared_runs_when_it_stops(world: World) -> None:
    await world.schedule()
    world.clock.set(at(8, 59, 52))
    await world.engine.dispatcher.dispatch_due()
    worker, stop = world.engine.worker, asyncio.Event()
    loop = asyncio.create_task(worker.run(stop))
    for _ in range(500):  # the loop's first pass leases and prepares the run
        if worker.next_start is not None:
            break
        await asyncio.sleep(0.01)
    assert worker.next_start == at(9, 0)

    async def leases() -> list[tuple[str, str | None]]:
        async with world.svc.db.connect() as conn:
            q = sa.select(run_t.c.status, run_t.c.lease_owner)
            return [(r.status, r.lease_owner) for r in await conn.execute(q)]

    assert await leases() == [("queued", worker.owner)]
    stop.set()
    await asyncio.wait_for(loop, 10)
    assert await leases() == [("queued", None)]
    assert world.stub.calls == []


async def test_a_dead_workers_prepared_run_is_taken_over_without_a_lost_attempt(
    world: World,
) -> None:
    from extsched.backends.embedded.worker import Worker

    s = await world.schedule()
    world.clock.set(at(8, 59, 52))
    await world.engine.dispatcher.dispatch_due()
    dead = Worker(
        world.svc.pipeline,
        world.clock,
        lease_ttl=world.engine.worker.lease_ttl,
        owner="dead-worker",
    )
    await dead.prepare(await dead.claim())
    world.clock.set(at(9, 0, 5))
    assert await world.engine.worker.run_once() == 0  # its lease holds past the fire time
    world.clock.set(at(9, 0, 33))  # the lease (10 s lead + 30 s margin from 08:59:52) is over
    assert await world.engine.worker.run_once() == 1
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"], run["error"]) == ("success", 1, None)
    # The dead worker wakes up late: the run is no longer its to start.
    assert await dead.start_due() == 0
    assert len(world.stub.calls) == 1


async def test_the_runner_receives_the_install_secrets_opened_and_nothing_else_does(
    world: World,
) -> None:
    install_id = world.ext["install"]["id"]
    r = await world.http.put(
        f"/api/v1/extensions/{install_id}/secrets",
        json={"secrets": {"API_KEY": "k-123"}},
        headers=world.personas.admin_a.headers,
    )
    assert r.status_code == 204
    s = await world.schedule()
    assert await world.at(at(9, 0)) == 1
    [call] = world.stub.calls
    assert call["body"]["secret_envelope"] == {
        "format": "extsched.secrets.v1",
        "values": {"API_KEY": "k-123"},
    }
    [run] = await world.runs(s["id"])
    assert run["status"] == "success"


async def test_secrets_no_key_opens_fail_the_run_plainly_without_a_call(world: World) -> None:
    from extsched.secret_box import SecretBox

    install_id = world.ext["install"]["id"]
    await world.http.put(
        f"/api/v1/extensions/{install_id}/secrets",
        json={"secrets": {"API_KEY": "k-123"}},
        headers=world.personas.admin_a.headers,
    )
    s = await world.schedule(maxAttempts=3)
    # The process lost the key the secrets were sealed with.
    world.svc.pipeline.attempts.box = SecretBox([Fernet.generate_key().decode()])
    assert await world.at(at(9, 0)) == 1
    assert world.stub.calls == []
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"]) == ("error", 1)  # not retried: no key will appear
    assert run["error"] == "no configured key opens the install's secrets"


async def test_a_call_outlasting_its_lease_keeps_it_renewed_against_a_competing_worker(
    world: World,
) -> None:
    """The renewal loop extends the lease while the call lasts: a second worker looking after
    the first lease's end finds nothing to take back, and the run completes once."""
    from extsched.backends.embedded.worker import Worker

    s = await world.schedule()
    release = asyncio.Event()
    world.stub.script = [hang(release)]
    worker = world.engine.worker
    worker.lease_ttl = timedelta(seconds=3)  # renewed every second of real time
    world.clock.set(at(9, 0))
    await world.engine.dispatcher.dispatch_due()
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run(stop, drain_timeout=10))

    async def lease_until() -> datetime:
        async with world.svc.db.connect() as conn:
            q = sa.select(run_t.c.lease_expires_at).where(run_t.c.status == "running")
            value: datetime = (await conn.execute(q)).scalar_one()
        return value

    try:
        await asyncio.wait_for(world.stub.arrived.wait(), 10)
        assert await lease_until() == at(9, 0, 3)
        world.clock.set(at(9, 0, 2))
        deadline = asyncio.get_running_loop().time() + 10
        while await lease_until() != at(9, 0, 5):  # the renewal loop's next turn
            assert asyncio.get_running_loop().time() < deadline, "the lease was not renewed"
            await asyncio.sleep(0.05)
        world.clock.set(at(9, 0, 4))  # past the first lease, inside the renewed one
        rival = Worker(world.svc.pipeline, world.clock, lease_ttl=worker.lease_ttl, owner="rival")
        assert await rival.reap_expired() == 0
        assert await rival.run_once() == 0
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(loop, 10)
    [run] = await world.runs(s["id"])
    assert (run["status"], run["attempt"]) == ("success", 1)
    assert len(world.stub.calls) == 1


@pytest.mark.reliability(
    fault="header injection through a schedule's name and payload",
    guarantee="the Runner request's headers are the contract's only; the data travels as data",
)
async def test_line_breaks_in_a_schedules_name_or_payload_never_become_runner_headers(
    world: World,
) -> None:
    s = await world.schedule(
        name="n\r\nx-evil: 1", payloadJson={"h": "a\r\nx-evil: 2", "x-evil": "3"}
    )
    assert (await run_now(world, s["id"])).status_code == 202
    assert await world.engine.worker.run_once() == 1
    [call] = world.stub.calls
    assert set(call["headers"]) >= {"x-alga-tenant", "x-alga-extension", "x-request-id"}
    assert "x-evil" not in call["headers"]
    assert set(call["body"]["http"]["headers"]) == {
        "x-alga-tenant",
        "x-alga-extension",
        "x-alga-trigger",
        "x-alga-schedule-id",
        "x-alga-scheduled-for",
        "content-type",
    }
    sent = json.loads(base64.b64decode(call["body"]["http"]["body_b64"]))
    assert sent == {"h": "a\r\nx-evil: 2", "x-evil": "3"}
