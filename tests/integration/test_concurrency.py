"""Races that only a real multi-connection database shows: quotas and lost updates."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from extsched.domain.records import Schedule
from extsched.services.caller import Caller
from extsched.services.inputs import Given
from extsched.store.schedule_repo import ScheduleRepo
from tests.conftest import Personas

BASE = "/api/extensions/acme.sample/schedules"


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
        taken = await ScheduleRepo(conn).occupancy("tenant-a", ext["install"]["id"], None)
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


def _copy(s: Schedule, i: int) -> Schedule:
    from dataclasses import replace

    from extsched.ids import new_id

    return replace(s, id=new_id(), name=f"filler-{i}")
