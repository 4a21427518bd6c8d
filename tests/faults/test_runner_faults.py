"""A Runner that fails in every way during a burst: down, slower than the timeout, answering
garbage or 5xx. Each run ends with the status its failure calls for after its attempts, none is
left queued or running, and the schedules fire again once the Runner is back."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web

from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.services.container import Services
from extsched.store.db import Database
from extsched.store.tables import embedded_schedule
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule_run as run_t
from tests.support.burst import prepare_due
from tests.support.postgres import free_port

T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
SCALE = int(os.environ.get("EXTSCHED_FAULT_SCALE", "1"))
DUE = 40 * SCALE
# One Python process plays the Runner: a larger burst needs more time to answer even garbage.
TIMEOUT_MS = 300 * SCALE
KINDS = ("ok", "garbage", "slow", "5xx")
EXPECTED = {"ok": "success", "garbage": "error", "slow": "timeout", "5xx": "error"}


def kind_of(schedule_id: str) -> str:
    return KINDS[hashlib.sha256(schedule_id.encode()).digest()[0] % len(KINDS)]


class FlakyRunner:
    """A Runner on a fixed port that can be stopped and started, failing by schedule."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.calls: list[dict[str, Any]] = []
        self.healthy = False
        self._site: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.calls.append(body)
        kind = "ok" if self.healthy else kind_of(body["context"]["schedule_id"])
        if kind == "garbage":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if kind == "5xx":
            return web.json_response({"status": 503, "body_b64": "", "headers": {}})
        if kind == "slow":
            await asyncio.sleep(TIMEOUT_MS / 1000 * 3)
        raw = base64.b64encode(json.dumps({"ok": True}).encode()).decode()
        return web.json_response({"status": 200, "headers": {}, "body_b64": raw})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/execute", self.handle)
        self._site = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._site.setup()
        await web.TCPSite(self._site, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._site is not None:
            await self._site.cleanup()
            self._site = None


@pytest.fixture
async def burst(db_url: str) -> AsyncIterator[tuple[Services, FlakyRunner, ManualClock]]:
    clock = ManualClock(T0)
    runner = FlakyRunner()
    await prepare_due(db_url, runner.url, DUE, clock, T0)
    db = Database(db_url)
    settings = Settings(
        database_url=db_url,
        runner_base_url=runner.url,
        gateway_timeout_ms=TIMEOUT_MS,
        max_schedules_per_install=DUE,
        max_schedules_per_tenant=DUE,
    )
    svc = Services.build(settings, db, clock)
    try:
        yield svc, runner, clock
    finally:
        await runner.stop()
        await svc.close()
        await db.dispose()


async def drive(svc: Services, clock: ManualClock, seconds: int) -> None:
    """Ticks every 10 s of injected time: first attempts, then the retries' back-off."""
    assert svc.engine is not None
    for _ in range(seconds // 10):
        await svc.engine.tick()
        clock.advance(timedelta(seconds=10))
    await svc.engine.tick()


async def fire_again(svc: Services, clock: ManualClock, seconds: int) -> datetime:
    """Every schedule due again 5 s from now, driven for ``seconds``; that occurrence."""
    at = clock.now() + timedelta(seconds=5)
    async with svc.db.transaction() as conn:
        await conn.execute(embedded_schedule.update().values(next_fire_for=at, fire_at=at))
    clock.set(at)
    await drive(svc, clock, seconds)
    return at


async def runs(svc: Services) -> list[Any]:
    async with svc.db.connect() as conn:
        return list((await conn.execute(run_t.select())).all())


@pytest.mark.reliability(
    fault="Runner faults during a burst: garbage, 5xx, slower than the timeout, then down",
    guarantee="every run ends success, error or timeout after its attempts; none stuck; "
    "the next occurrences fire and succeed",
)
async def test_every_run_ends_with_the_status_of_its_failure_and_firing_goes_on(
    burst: tuple[Services, FlakyRunner, ManualClock], observed: list[str]
) -> None:
    svc, runner, clock = burst
    await runner.start()
    await drive(svc, clock, 120)  # 3 attempts: now, +10 s, +20 s (+ slack)
    first = await runs(svc)
    assert len(first) == DUE
    by_kind = {r.schedule_id: kind_of(r.schedule_id) for r in first}
    wrong = [
        (by_kind[r.schedule_id], r.status)
        for r in first
        if r.status != EXPECTED[by_kind[r.schedule_id]]
    ]
    assert wrong == []
    failed = [r for r in first if by_kind[r.schedule_id] != "ok"]
    assert {r.attempt for r in failed} == {3}
    async with svc.db.connect() as conn:
        attempts = (await conn.execute(sa.select(sa.func.count()).select_from(attempt_t))).scalar()
    counts = {k: sum(1 for r in first if by_kind[r.schedule_id] == k) for k in KINDS}
    observed.append(
        f"{DUE} due at once: "
        + ", ".join(f"{counts[k]} {k} -> {EXPECTED[k]}" for k in KINDS)
        + f"; {attempts} attempts recorded; 0 queued or running"
    )

    # The Runner goes down: the next occurrence's runs end in connection errors, recorded.
    await runner.stop()
    second_at = await fire_again(svc, clock, 120)
    down = [r for r in await runs(svc) if r.scheduled_for == second_at]
    assert len(down) == DUE
    assert {r.status for r in down} == {"error"}
    assert all("connection" in (r.error or "") for r in down)

    # Back up: the following occurrence fires for every schedule and succeeds.
    runner.healthy = True
    await runner.start()
    third_at = await fire_again(svc, clock, 20)
    after = [r for r in await runs(svc) if r.scheduled_for == third_at]
    assert len(after) == DUE and {r.status for r in after} == {"success"}
    stuck = [r for r in await runs(svc) if r.status in ("queued", "running")]
    assert stuck == []
    observed.append(
        f"Runner down: {DUE} connection errors recorded; back up: {DUE} of {DUE} succeed"
    )
