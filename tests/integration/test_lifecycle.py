"""Version updates with remap, uninstall, tenant deletion, reconciliation and admin tools."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from extsched.backends.base import ScheduleSpec, schedule_key
from extsched.services.caller import Caller
from extsched.store.tables import TENANT_TABLES
from tests.conftest import Personas
from tests.support.seed import memory_backend, publish

BASE = "/api/extensions/acme.sample/schedules"
V2_SAME = [
    {"method": "post", "path": "sync", "handler": "v2/sync.js"},
    {"method": "GET", "path": "./status", "handler": "v2/status.js"},
]
V2_NO_STATUS = [{"method": "POST", "path": "//sync", "handler": "v2/sync.js"}]


async def make(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], endpoint: str, **body: Any
) -> dict[str, Any]:
    r = await client.post(
        BASE,
        json={"endpointId": ext["endpoints"][endpoint], "cron": "0 9 * * *", **body},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def schedules(client: httpx.AsyncClient, personas: Personas) -> dict[str, dict[str, Any]]:
    r = await client.get(BASE, headers=personas.admin_a.headers)
    return {s["id"]: s for s in r.json()["schedules"]}


async def update(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], version: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/extensions/update",
        json={"registryId": ext["registryId"], "version": version, **extra},
        headers=personas.admin_a.headers,
    )


async def publish_v2_without_status(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    """Version 2.0.0 of the sample, which drops GET /status."""
    await publish(
        client,
        personas.operator,
        registry_id=ext["registryId"],
        version="2.0.0",
        endpoints=V2_NO_STATUS,
    )


async def test_an_update_remaps_by_method_and_normalized_path(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    sync = await make(client, personas, ext, "POST /sync", name="sync")
    status = await make(client, personas, ext, "GET /status", name="status", enabled=False)
    v2 = await publish(
        client, personas.operator, registry_id=ext["registryId"], version="2.0.0", endpoints=V2_SAME
    )
    new_ids = {f"{e['method']} {e['path']}": e["id"] for e in v2["endpoints"]}
    r = await update(client, personas, ext, "2.0.0")
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["versionId"]) == ("2.0.0", v2["id"])
    after = await schedules(client, personas)
    assert after[sync["id"]]["endpointId"] == new_ids["POST /sync"]
    assert after[status["id"]]["endpointId"] == new_ids["GET /status"]
    assert after[status["id"]]["enabled"] is False  # disabled stays disabled
    assert after[sync["id"]]["enabled"] is True
    entries = (await client.get("/api/tenant/audit", headers=personas.admin_a.headers)).json()
    updated = next(e for e in entries["entries"] if e["action"] == "install.updated")
    assert updated["details"]["before"] == {"version": "1.0.0"}
    assert updated["details"]["after"] == {"version": "2.0.0"}
    assert {m["scheduleId"] for m in updated["details"]["remapped"]} == {sync["id"], status["id"]}
    assert updated["details"]["disabled"] == []
    # The endpoints route now lists the new version's endpoints.
    r = await client.get("/api/extensions/acme.sample/endpoints", headers=personas.admin_a.headers)
    assert {e["id"] for e in r.json()["endpoints"]} == set(new_ids.values())


async def test_an_update_that_would_strand_a_schedule_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    await make(client, personas, ext, "POST /sync", name="sync")
    status = await make(client, personas, ext, "GET /status", name="status")
    await publish_v2_without_status(client, personas, ext)
    before = await schedules(client, personas)
    backend_before = dict(memory_backend(app).schedules)
    calls_before = len(memory_backend(app).calls)
    r = await update(client, personas, ext, "2.0.0")
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "SCHEDULE_REMAP_FAILED"
    assert body["missing"] == [
        {"scheduleId": status["id"], "name": "status", "method": "GET", "path": "/status"}
    ]
    assert await schedules(client, personas) == before
    r = await client.get(
        f"/api/v1/extensions/{ext['install']['id']}", headers=personas.admin_a.headers
    )
    assert (r.json()["version"], r.json()["revision"]) == ("1.0.0", 1)
    assert memory_backend(app).schedules == backend_before
    assert len(memory_backend(app).calls) == calls_before
    actions = [
        e["action"]
        for e in (await client.get("/api/tenant/audit", headers=personas.admin_a.headers)).json()[
            "entries"
        ]
    ]
    assert "install.updated" not in actions


async def test_the_override_disables_only_the_unmatched_schedules(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    sync = await make(client, personas, ext, "POST /sync", name="sync")
    status = await make(client, personas, ext, "GET /status", name="status")
    await publish_v2_without_status(client, personas, ext)
    preview = await client.post(
        "/api/v1/extensions/update/preview",
        json={"registryId": ext["registryId"], "version": "2.0.0"},
        headers=personas.reader_a.headers,
    )
    assert preview.status_code == 200
    p = preview.json()
    r = await update(client, personas, ext, "2.0.0", disableMissingSchedules=True)
    assert r.status_code == 200
    after = await schedules(client, personas)
    assert (after[sync["id"]]["enabled"], after[sync["id"]]["disabledReason"]) == (True, None)
    assert (after[status["id"]]["enabled"], after[status["id"]]["disabledReason"]) == (
        False,
        "endpoint_missing_after_update",
    )
    assert after[status["id"]]["nextRunAt"] is None
    key = schedule_key("tenant-a", ext["install"]["id"], status["id"])
    assert memory_backend(app).schedules[key][1] is True  # paused in the backend
    # The preview said exactly this.
    assert p["blocked"] is True
    assert [m["scheduleId"] for m in p["missing"]] == [status["id"]]
    assert [(m["scheduleId"], m["toEndpointId"]) for m in p["remapped"]] == [
        (sync["id"], after[sync["id"]]["endpointId"])
    ]
    assert p["remapped"][0]["fromEndpointId"] == sync["endpointId"]
    # A disabled schedule cannot be re-enabled while its endpoint is missing.
    r = await client.patch(
        f"{BASE}/{status['id']}", json={"enabled": True}, headers=personas.admin_a.headers
    )
    assert (r.status_code, r.json()["fieldErrors"]) == (
        422,
        {"endpointId": "endpoint is not part of the installed version"},
    )


async def test_a_schedule_whose_endpoint_row_is_gone_is_reported_missing(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    from extsched.store.tables import extension_api_endpoint

    s = await make(client, personas, ext, "POST /sync", name="orphaned")
    async with app.state.services.db.transaction() as conn:
        await conn.execute(
            extension_api_endpoint.delete().where(extension_api_endpoint.c.id == s["endpointId"])
        )
    await publish(
        client, personas.operator, registry_id=ext["registryId"], version="2.0.0", endpoints=V2_SAME
    )
    r = await update(client, personas, ext, "2.0.0")
    assert r.status_code == 409
    assert r.json()["missing"] == [
        {"scheduleId": s["id"], "name": "orphaned", "method": None, "path": None}
    ]


async def test_installing_another_version_over_an_install_goes_through_remap(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    await make(client, personas, ext, "GET /status", name="status")
    await publish_v2_without_status(client, personas, ext)
    await publish(
        client, personas.operator, registry_id=ext["registryId"], version="3.0.0", endpoints=V2_SAME
    )
    h = personas.admin_a.headers
    r = await client.post(
        "/api/v1/extensions/install",
        json={"registryId": ext["registryId"], "version": "2.0.0"},
        headers=h,
    )
    assert (r.status_code, r.json()["code"]) == (409, "SCHEDULE_REMAP_FAILED")
    r = await client.post(
        "/api/v1/extensions/install",
        json={"registryId": ext["registryId"], "version": "3.0.0"},
        headers=h,
    )
    assert (r.status_code, r.json()["version"], r.json()["id"]) == (
        200,
        "3.0.0",
        ext["install"]["id"],
    )


async def test_a_backend_failure_after_commit_is_repaired_by_the_reconciler(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    s = await make(client, personas, ext, "POST /sync")
    key = schedule_key("tenant-a", ext["install"]["id"], s["id"])
    memory_backend(app).fail_next = 1
    r = await client.patch(
        f"{BASE}/{s['id']}", json={"cron": "30 6 * * *"}, headers=personas.admin_a.headers
    )
    assert r.status_code == 200
    assert (
        memory_backend(app).schedules[key][0].cron == "0 9 * * *"
    )  # the backend missed the change
    r = await client.post(
        "/api/admin/reconcile", json={"dryRun": True}, headers=personas.operator.headers
    )
    assert r.json()["changes"] == [
        {
            "key": key,
            "action": "update",
            "detail": "backend has ('0 9 * * *', 'UTC', 0), database says ('30 6 * * *', 'UTC', 0)",
        }
    ]
    assert memory_backend(app).schedules[key][0].cron == "0 9 * * *"  # a dry run changes nothing
    r = await client.post("/api/admin/reconcile", json={}, headers=personas.operator.headers)
    assert [c["action"] for c in r.json()["changes"]] == ["update"]
    assert memory_backend(app).schedules[key][0].cron == "30 6 * * *"
    r = await client.post("/api/admin/reconcile", json={}, headers=personas.operator.headers)
    assert r.json()["changes"] == []


async def test_the_reconciler_deletes_orphans_and_recreates_missing_entries(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    s = await make(client, personas, ext, "POST /sync")
    key = schedule_key("tenant-a", ext["install"]["id"], s["id"])
    orphan = schedule_key("tenant-x", "gone", "gone")
    runner = memory_backend(app)
    await runner.ensure_schedule(orphan, ScheduleSpec("0 0 * * *", "UTC", 0), paused=False)
    await runner.delete(key)
    changes = await app.state.services.reconciler.run()
    assert [(c.key, c.action) for c in changes] == [(orphan, "delete"), (key, "create")]
    assert await runner.list_keys() == [key]
    await client.post(
        f"/api/v1/extensions/{ext['install']['id']}/disable", headers=personas.admin_a.headers
    )
    runner.schedules[key] = (runner.schedules[key][0], False)  # drifted: firing while disabled
    changes = await app.state.services.reconciler.run()
    assert [(c.key, c.action) for c in changes] == [(key, "pause")]


@pytest.mark.parametrize("stop_after", [0, 1, 2, 3])
async def test_an_interrupted_uninstall_finishes_when_run_again(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    app: FastAPI,
    stop_after: int,
) -> None:
    svc = app.state.services
    s = await make(client, personas, ext, "POST /sync")
    await client.post(f"{BASE}/{s['id']}/run-now", headers=personas.admin_a.headers)
    other = await installed_other_tenant(client, personas)
    caller = Caller("tenant-a", "alice")
    async with svc.db.connect() as conn:
        from extsched.store.install_repo import InstallRepo

        install = await InstallRepo(conn).get("tenant-a", ext["install"]["id"])
    assert install is not None
    await svc.lifecycle.uninstall_steps(caller, install, stop_after=stop_after)  # then a crash
    r = await client.post(
        "/api/v1/extensions/uninstall",
        json={"registryId": ext["registryId"]},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 204
    assert await tenant_rows(app, "tenant-a") == {"tenant_extension_audit", "tenant_settings"}
    assert await memory_backend(app).list_keys("extsched:tenant-a:") == []
    actions = [
        e["action"]
        for e in (await client.get("/api/tenant/audit", headers=personas.admin_a.headers)).json()[
            "entries"
        ]
    ]
    assert actions.count("install.uninstalled") == 1
    # The other tenant is untouched.
    assert len(await memory_backend(app).list_keys("extsched:tenant-b:")) == 1
    assert other["install"]["id"] in {
        k.split(":")[2] for k in await memory_backend(app).list_keys("extsched:tenant-b:")
    }


async def installed_other_tenant(client: httpx.AsyncClient, personas: Personas) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/extensions/install",
        json={
            "registryId": (
                await client.get("/api/registry/extensions", headers=personas.operator.headers)
            ).json()["extensions"][0]["id"],
            "version": "1.0.0",
        },
        headers=personas.admin_b.headers,
    )
    inst = r.json()
    eps = (
        await client.get("/api/extensions/acme.sample/endpoints", headers=personas.admin_b.headers)
    ).json()
    sync = next(e["id"] for e in eps["endpoints"] if e["path"] == "/sync")
    await client.post(
        BASE, json={"endpointId": sync, "cron": "0 9 * * *"}, headers=personas.admin_b.headers
    )
    return {"install": inst}


async def tenant_rows(app: FastAPI, tenant_id: str) -> set[str]:
    found = set()
    async with app.state.services.db.connect() as conn:
        for table in TENANT_TABLES:
            q = sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
            if (await conn.execute(q)).scalar_one():
                found.add(table.name)
    return found


async def test_deleting_a_tenant_removes_everything_it_owned(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    s = await make(client, personas, ext, "POST /sync")
    await client.post(f"{BASE}/{s['id']}/run-now", headers=personas.admin_a.headers)
    await client.put(
        "/api/tenant/settings",
        json={"defaultTimezone": "Asia/Tokyo"},
        headers=personas.admin_a.headers,
    )
    await installed_other_tenant(client, personas)
    assert await app.state.services.lifecycle.delete_tenant("tenant-a", "ops") == 1
    assert await tenant_rows(app, "tenant-a") == set()
    assert await memory_backend(app).list_keys("extsched:tenant-a:") == []
    assert await tenant_rows(app, "tenant-b") != set()
    r = await client.get("/api/tenant/settings", headers=personas.admin_a.headers)
    assert r.json() == {"defaultTimezone": "UTC", "schedulesPaused": False}


async def test_admin_routes_list_across_tenants_delete_and_pause(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    a = await make(client, personas, ext, "POST /sync")
    await installed_other_tenant(client, personas)
    op = personas.operator.headers
    r = await client.get("/api/admin/schedules", headers=op)
    assert {s["tenantId"] for s in r.json()["schedules"]} == {"tenant-a", "tenant-b"}
    r = await client.get(
        "/api/admin/schedules", params={"tenantId": "tenant-a", "limit": 1}, headers=op
    )
    assert [s["id"] for s in r.json()["schedules"]] == [a["id"]]
    assert r.json()["nextCursor"] is None
    r = await client.put(
        "/api/admin/tenants/tenant-b/kill-switch", json={"schedulesPaused": True}, headers=op
    )
    assert r.json()["schedulesPaused"] is True
    assert all(
        paused for k, (_, paused) in memory_backend(app).schedules.items() if ":tenant-b:" in k
    )
    r = await client.delete(f"/api/admin/tenants/tenant-a/schedules/{a['id']}", headers=op)
    assert r.status_code == 204
    r = await client.delete(f"/api/admin/tenants/tenant-b/schedules/{a['id']}", headers=op)
    assert (r.status_code, r.json()["code"]) == (404, "SCHEDULE_NOT_FOUND")
    assert await memory_backend(app).list_keys("extsched:tenant-a:") == []
    entries = (await client.get("/api/tenant/audit", headers=personas.admin_a.headers)).json()[
        "entries"
    ]
    assert (entries[0]["action"], entries[0]["actor"], entries[0]["details"]["byOperator"]) == (
        "schedule.deleted",
        "olga",
        True,
    )
    for who in (personas.admin_a, personas.reader_a, personas.client_a):
        assert (await client.get("/api/admin/schedules", headers=who.headers)).status_code == 403
        assert (
            await client.post("/api/admin/reconcile", json={}, headers=who.headers)
        ).status_code == 403
