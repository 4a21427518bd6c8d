from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from extsched.ids import new_id
from extsched.store.schedule_repo import ScheduleRepo
from tests.conftest import Personas
from tests.support.seed import content_hash, install, publish


@pytest.fixture
async def published(client: httpx.AsyncClient, personas: Personas) -> dict[str, Any]:
    return await publish(client, personas.operator)


async def test_install_config_carries_current_hash_granted_providers_and_secrets(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any], app: FastAPI
) -> None:
    inst = await install(
        client,
        personas.admin_a,
        published["registryId"],
        config={"region": "eu"},
        grantedCaps=["cap:scheduler.manage"],
    )
    await client.put(
        f"/api/v1/extensions/{inst['id']}/secrets",
        json={"secrets": {"TOKEN": "t0k"}},
        headers=personas.admin_a.headers,
    )
    cfg = await app.state.services.installs.install_config("tenant-a", inst["id"])
    assert cfg.install_id == inst["id"]
    assert cfg.tenant_id == "tenant-a"
    assert cfg.registry_id == published["registryId"]
    assert cfg.version_id == published["id"]
    assert cfg.content_hash == content_hash("1.0.0")
    assert cfg.config == {"region": "eu"}
    # The manifest also declares cap:http.fetch, but the tenant did not grant it.
    assert cfg.providers == [
        "cap:context.read",
        "cap:log.emit",
        "cap:scheduler.manage",
        "cap:user.read",
    ]
    assert cfg.secret_envelope == {"format": "extsched.secrets.v1", "values": {"TOKEN": "t0k"}}
    assert "t0k" not in repr(cfg)


async def test_a_version_whose_endpoints_a_schedule_references_cannot_be_deleted(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any], app: FastAPI
) -> None:
    reg = published["registryId"]
    v2 = await publish(client, personas.operator, registry_id=reg, version="2.0.0")
    inst = await install(client, personas.admin_a, reg, "1.0.0")
    sync = next(e["id"] for e in published["endpoints"] if e["path"] == "/sync")
    r = await client.post(
        f"/api/extensions/{inst['id']}/schedules",
        json={"endpointId": sync, "cron": "0 9 * * *"},
        headers=personas.admin_a.headers,
    )
    # A schedule left pointing at a 2.0.0 endpoint (as a half-finished upgrade would leave it).
    svc = app.state.services
    original = (await svc.schedules.get(_caller(), inst["id"], r.json()["id"])).schedule
    async with svc.db.transaction() as conn:
        await ScheduleRepo(conn).insert(
            replace(original, id=new_id(), endpoint_id=v2["endpoints"][0]["id"], name="stray")
        )
    r = await client.delete(
        f"/api/registry/extensions/{reg}/versions/2.0.0", headers=personas.operator.headers
    )
    assert r.status_code == 409
    assert (r.json()["code"], r.json()["installs"], r.json()["schedules"]) == (
        "VERSION_IN_USE",
        0,
        1,
    )


def _caller() -> Any:
    from extsched.services.caller import Caller

    return Caller("tenant-a", "alice")
