"""An extension that manages its own schedules, for real: the dev runner's ``self-schedule``
handler, reached through the gateway and through a run, calls the host API back over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from extsched.api.app import create_app
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.devrunner.app import DevRunner, start
from extsched.services.container import Services
from tests.conftest import JWT_SECRET, Personas
from tests.support.postgres import free_port
from tests.support.seed import install, publish
from tests.support.served import Served, serve

TOKEN = "runner-token-for-the-roundtrip-0123456789"
ENDPOINTS = [
    {"method": "POST", "path": "/sync", "handler": "dist/sync.js"},
    {"method": "POST", "path": "/self-schedule", "handler": "dist/self.js"},
]


@dataclass
class Loop:
    served: Served
    svc: Services
    dev: DevRunner
    personas: Personas
    install: dict[str, Any]


@pytest.fixture
async def loop(db_url: str, clock: ManualClock, personas: Personas) -> AsyncIterator[Loop]:
    port = free_port()
    site, dev = await start("127.0.0.1", port, runner_token=TOKEN)
    settings = Settings(
        database_url=db_url,
        jwt_secret=JWT_SECRET,
        runner_base_url=f"http://127.0.0.1:{port}",
        runner_service_token=TOKEN,
    )
    app = create_app(settings, clock=clock, background=False)
    try:
        async with serve(app) as served:
            dev.host_api = served.base  # known once the API listens
            version = await publish(served.client, personas.operator, endpoints=ENDPOINTS)
            inst = await install(
                served.client,
                personas.admin_a,
                version["registryId"],
                grantedCaps=["cap:scheduler.manage"],
            )
            yield Loop(served, app.state.services, dev, personas, inst)
    finally:
        await site.cleanup()


async def test_an_extension_creates_and_lists_its_own_schedule_through_the_gateway(
    loop: Loop,
) -> None:
    h = loop.personas.admin_a.headers
    want = {"endpoint": "POST /sync", "cron": "15 6 * * *", "name": "Made by code"}
    r = await loop.served.client.post("/api/ext/acme.sample/self-schedule", json=want, headers=h)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["created"]["name"] == "Made by code"
    assert answer["schedules"] == [
        {"id": answer["created"]["id"], "name": "Made by code", "cron": "15 6 * * *"}
    ]
    # The tenant admin sees it, made by the extension.
    listed = await loop.served.client.get("/api/extensions/acme.sample/schedules", headers=h)
    [made] = listed.json()["schedules"]
    assert (made["endpointPath"], made["cron"]) == ("/sync", "15 6 * * *")
    audit = (await loop.served.client.get("/api/tenant/audit", headers=h)).json()["entries"]
    assert audit[0]["action"] == "schedule.created"
    assert audit[0]["actor"] == f"extension:{loop.install['registryId']}"
    # Again: the schedule of that name is kept, not made twice.
    again = await loop.served.client.post(
        "/api/ext/acme.sample/self-schedule", json=want, headers=h
    )
    assert again.status_code == 200
    assert len(again.json()["schedules"]) == 1


async def test_a_scheduled_run_of_the_extension_reaches_the_host_api_too(loop: Loop) -> None:
    h = loop.personas.admin_a.headers
    base = "/api/extensions/acme.sample/schedules"
    endpoints = (
        await loop.served.client.get("/api/extensions/acme.sample/endpoints", headers=h)
    ).json()
    self_id = next(e["id"] for e in endpoints["endpoints"] if e["path"] == "/self-schedule")
    r = await loop.served.client.post(
        base,
        json={
            "endpointId": self_id,
            "cron": "0 5 * * *",
            "name": "Bootstrap",
            "payloadJson": {"endpoint": "/sync", "cron": "0 7 * * 1", "name": "Weekly"},
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    run_now = await loop.served.client.post(f"{base}/{r.json()['id']}/run-now", headers=h)
    assert run_now.status_code == 202
    assert loop.svc.engine is not None
    await loop.svc.engine.tick()
    [run] = (await loop.served.client.get(f"{base}/{r.json()['id']}/runs", headers=h)).json()[
        "runs"
    ]
    assert (run["status"], run["httpStatus"]) == ("success", 200), run
    names = {s["name"] for s in (await loop.served.client.get(base, headers=h)).json()["schedules"]}
    assert names == {"Bootstrap", "Weekly"}


async def test_without_the_capability_the_extension_is_told_403(loop: Loop) -> None:
    h = loop.personas.admin_a.headers
    r = await loop.served.client.put(
        "/api/v1/extensions/acme.sample/config", json={"grantedCaps": []}, headers=h
    )
    assert r.status_code == 200
    answer = await loop.served.client.post(
        "/api/ext/acme.sample/self-schedule", json={"endpoint": "/sync"}, headers=h
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "FORBIDDEN"
