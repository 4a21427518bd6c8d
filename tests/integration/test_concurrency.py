"""Races that only a real multi-connection database shows: quotas, the run-now limit and its
idempotency, lost updates."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from extsched.api.app import create_app
from extsched.backends.memory import MemoryJobRunner
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.domain.paging import PageRequest, page_request
from extsched.domain.records import Schedule
from extsched.errors import RateLimited, StoreUnavailable
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.services.inputs import Given
from extsched.services.schedules import ScheduleView
from extsched.store.run_repo import RunRepo
from extsched.store.schedule_repo import ScheduleRepo
from tests.conftest import JWT_SECRET, Personas
from tests.support.seed import install, installed_sample, publish

BASE = "/api/extensions/acme.sample/schedules"


@pytest.mark.reliability(
    fault="20 concurrent creates at the install quota",
    guarantee="exactly one admitted",
)
async def test_twenty_concurrent_creates_at_49_existing_admit_exactly_one(
    app: FastAPI, ext: dict[str, Any]
) -> None:
    svc = app.state.services
    caller = Caller("tenant-a", "alice")
    endpoint_id = ext["endpoints"]["POST /sync"]
    template = (
        await svc.schedules.create(
            caller, "acme.sample", Given({"endpointId": endpoint_id, "cron": "0 0 * * *"})
        )
    ).schedule
    async with svc.db.transaction() as conn:
        repo = ScheduleRepo(conn)
        for i in range(48):
            await repo.insert(_copy(template, i))
    results = await asyncio.gather(
        *(
            svc.schedules.create(
                caller, "acme.sample", Given({"endpointId": endpoint_id, "cron": "0 1 * * *"})
            )
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 1
    assert {type(e).__name__ for e in refused} == {"QuotaExceeded"}
    async with svc.db.connect() as conn:
        taken = await ScheduleRepo(conn).occupancy("tenant-a", ext["install"]["id"])
        assert taken.install_schedules == 50


async def test_concurrent_patches_of_different_fields_never_lose_an_update(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    r = await client.post(
        BASE,
        json={"endpointId": ext["endpoints"]["POST /sync"], "cron": "0 9 * * *"},
        headers=personas.admin_a.headers,
    )
    sid = r.json()["id"]
    patches = [{"name": f"n{i}"} if i % 2 else {"jitterSeconds": i + 1} for i in range(10)]
    responses = await asyncio.gather(
        *(client.patch(f"{BASE}/{sid}", json=p, headers=personas.admin_a.headers) for p in patches)
    )
    assert all(r.status_code == 200 for r in responses)
    final = (await client.get(f"{BASE}/{sid}", headers=personas.admin_a.headers)).json()
    assert final["revision"] == 11
    revisions = sorted(r.json()["revision"] for r in responses)
    assert revisions == list(range(2, 12))


async def sync_schedule(svc: Services, ext: dict[str, Any], cron: str) -> ScheduleView:
    """A schedule of tenant A's sample install, on its POST /sync endpoint."""
    return await svc.schedules.create(
        Caller("tenant-a", "alice"),
        "acme.sample",
        Given({"endpointId": ext["endpoints"]["POST /sync"], "cron": cron}),
    )


def _page() -> PageRequest:
    return page_request(None, None)


def _copy(s: Schedule, i: int) -> Schedule:
    from dataclasses import replace

    from extsched.ids import new_id

    return replace(s, id=new_id(), name=f"filler-{i}")


@pytest.mark.reliability(
    fault="20 concurrent run-now requests of one tenant",
    guarantee="exactly 5 accepted, 15 rate limited, no 5xx",
)
async def test_twenty_concurrent_run_nows_admit_exactly_five_and_nothing_fails(
    app: FastAPI, ext: dict[str, Any]
) -> None:
    svc = app.state.services
    caller = Caller("tenant-a", "alice")
    made = await sync_schedule(svc, ext, "0 0 * * *")
    results = await asyncio.gather(
        *(
            svc.run_now.run_now(caller, "acme.sample", made.schedule.id, idempotency_key=f"k{i}")
            for i in range(20)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException) and r[1]]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(created) == 5
    assert len(refused) == 15
    assert {type(e).__name__ for e in refused} == {"RateLimited"}
    runs, _ = await svc.schedules.runs(caller, "acme.sample", made.schedule.id, _page())
    assert len(runs) == 5


@pytest.mark.reliability(
    fault="concurrent run-now requests with one Idempotency-Key, or repeated clicks",
    guarantee="one run",
)
async def test_concurrent_run_nows_with_one_key_or_repeated_clicks_make_one_run(
    app: FastAPI, ext: dict[str, Any]
) -> None:
    svc = app.state.services
    caller = Caller("tenant-a", "alice")
    made = await sync_schedule(svc, ext, "0 0 * * *")
    clicked = await sync_schedule(svc, ext, "0 1 * * *")
    # One Idempotency-Key on one schedule; clicks without a key on another.
    for schedule, key in ((made.schedule, "same"), (clicked.schedule, None)):
        results = await asyncio.gather(
            *(
                svc.run_now.run_now(caller, "acme.sample", schedule.id, idempotency_key=key)
                for _ in range(10)
            ),
            return_exceptions=True,
        )
        assert not [r for r in results if isinstance(r, BaseException)], results
        runs = {r[0].id for r in results if not isinstance(r, BaseException)}
        assert len(runs) == 1, key
        assert sum(1 for r in results if not isinstance(r, BaseException) and r[1]) == 1


@pytest.mark.reliability(
    fault="the run-now limiter's read failing",
    guarantee="fails closed: 429 with Retry-After, no run",
)
async def test_the_run_now_limiter_fails_closed_when_it_cannot_count(
    app: FastAPI, ext: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = app.state.services
    caller = Caller("tenant-a", "alice")
    made = await sync_schedule(svc, ext, "0 0 * * *")

    async def unreadable(*_: Any, **__: Any) -> Any:
        raise StoreUnavailable("the runs table cannot be read")

    monkeypatch.setattr(RunRepo, "run_now_since", unreadable)
    with pytest.raises(RateLimited) as refused:
        await svc.run_now.run_now(caller, "acme.sample", made.schedule.id)
    assert refused.value.headers == {"Retry-After": "5"}
    monkeypatch.undo()
    runs, _ = await svc.schedules.runs(caller, "acme.sample", made.schedule.id, _page())
    assert runs == []


@pytest.mark.reliability(
    fault="20 concurrent creates at the tenant quota",
    guarantee="exactly one admitted",
)
async def test_the_tenant_quota_holds_under_twenty_concurrent_creates_across_installs(
    db_url: str, clock: ManualClock, personas: Personas
) -> None:
    settings = Settings(database_url=db_url, jwt_secret=JWT_SECRET, max_schedules_per_tenant=60)
    application = create_app(
        settings, clock=clock, backend=MemoryJobRunner(clock), background=False
    )
    async with application.router.lifespan_context(application):
        svc = application.state.services
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            first = await installed_sample(http, personas.operator, personas.admin_a)
            other = await publish(http, personas.operator, publisher="acme", name="second")
            second = await install(http, personas.admin_a, other["registryId"])
        caller = Caller("tenant-a", "alice")
        template = (
            await svc.schedules.create(
                caller,
                first["install"]["id"],
                Given({"endpointId": first["endpoints"]["POST /sync"], "cron": "0 0 * * *"}),
            )
        ).schedule
        async with svc.db.transaction() as conn:
            repo = ScheduleRepo(conn)
            for i in range(49):
                await repo.insert(_copy(template, i))
        other_sync = next(e["id"] for e in other["endpoints"] if e["path"] == "/sync")
        for i in range(9):  # 59 in the tenant, 9 in the second install
            await svc.schedules.create(
                caller, second["id"], Given({"endpointId": other_sync, "cron": f"{i} 2 * * *"})
            )
        results = await asyncio.gather(
            *(
                svc.schedules.create(
                    caller, second["id"], Given({"endpointId": other_sync, "cron": "0 3 * * *"})
                )
                for _ in range(20)
            ),
            return_exceptions=True,
        )
        ok = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(ok) == 1
        assert {(type(e).__name__, e.extra["scope"]) for e in refused} == {
            ("QuotaExceeded", "tenant")
        }
