"""The scheduler host API (SPEC §10) over real HTTP: the Runner's token, the install, the
capability, the mutation rate, the six operations and their field errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from extsched.api.app import create_app
from extsched.auth import runner_token_matches
from extsched.backends.memory import MemoryJobRunner
from extsched.clock import ManualClock
from extsched.config import Settings
from tests.conftest import JWT_SECRET, Personas
from tests.support.seed import install, publish
from tests.support.served import Served, serve

TOKEN = "runner-token-for-tests-0123456789abcdef"
MANAGE = "cap:scheduler.manage"
ENDPOINTS = [
    {"method": "POST", "path": "/sync", "handler": "dist/sync.js"},
    {"method": "GET", "path": "/report", "handler": "dist/report.js"},
    {"method": "POST", "path": "/report", "handler": "dist/report.js"},
    {"method": "POST", "path": "/items/:id", "handler": "dist/item.js"},
]


@dataclass
class Host:
    served: Served
    clock: ManualClock
    personas: Personas
    registry_id: str
    install_id: str

    async def call(
        self, body: Any, *, token: str | None = TOKEN, install_id: str | None = None
    ) -> httpx.Response:
        headers = {"x-runner-auth": token} if token is not None else {}
        return await self.served.client.post(
            f"/api/internal/ext-scheduler/install/{install_id or self.install_id}",
            json=body,
            headers=headers,
        )

    async def create(self, **fields: Any) -> dict[str, Any]:
        r = await self.call(
            {"operation": "create", "endpoint": "POST /sync", "cron": "0 9 * * *", **fields}
        )
        assert r.status_code == 201, r.text
        schedule: dict[str, Any] = r.json()["schedule"]
        return schedule


async def served_host(
    db_url: str, clock: ManualClock, token: str | None = TOKEN
) -> tuple[Settings, Any]:
    settings = Settings(database_url=db_url, jwt_secret=JWT_SECRET, runner_service_token=token)
    return settings, create_app(
        settings, clock=clock, backend=MemoryJobRunner(clock), background=False
    )


@pytest.fixture
async def host(db_url: str, clock: ManualClock, personas: Personas) -> AsyncIterator[Host]:
    _, app = await served_host(db_url, clock)
    async with serve(app) as served:
        version = await publish(served.client, personas.operator, endpoints=ENDPOINTS)
        inst = await install(
            served.client, personas.admin_a, version["registryId"], grantedCaps=[MANAGE]
        )
        yield Host(served, clock, personas, version["registryId"], inst["id"])


async def test_create_list_get_update_and_delete_act_on_this_install_only(host: Host) -> None:
    created = await host.create(name="Nightly", payload={"full": True}, timezone="europe/paris")
    assert (created["name"], created["timezone"]) == ("Nightly", "Europe/Paris")
    assert (created["endpointMethod"], created["endpointPath"]) == ("POST", "/sync")
    assert created["payloadJson"] == {"full": True}
    assert created["installId"] == host.install_id
    listed = (await host.call({"operation": "list"})).json()["schedules"]
    assert [s["id"] for s in listed] == [created["id"]]
    got = await host.call({"operation": "get", "scheduleId": created["id"]})
    assert got.json()["schedule"]["cron"] == "0 9 * * *"
    updated = await host.call(
        {
            "operation": "update",
            "scheduleId": created["id"],
            "name": None,
            "payload": None,
            "cron": "30 6 * * *",
            "endpoint": "POST /report",
        }
    )
    assert updated.status_code == 200, updated.text
    u = updated.json()["schedule"]
    assert (u["name"], u["payloadJson"], u["cron"], u["endpointPath"]) == (
        None,
        None,
        "30 6 * * *",
        "/report",
    )
    assert u["revision"] == 2
    deleted = await host.call({"operation": "delete", "scheduleId": created["id"]})
    assert (deleted.status_code, deleted.json()) == (200, {"deleted": True})
    assert (await host.call({"operation": "list"})).json() == {"schedules": []}


async def test_changes_are_audited_with_the_extension_as_actor(host: Host) -> None:
    created = await host.create(name="Audited")
    audit = await host.served.client.get("/api/tenant/audit", headers=host.personas.admin_a.headers)
    [entry] = [e for e in audit.json()["entries"] if e["action"] == "schedule.created"]
    assert entry["actor"] == f"extension:{host.registry_id}"
    assert entry["targetId"] == created["id"]
    # The tenant admin sees the schedule the extension made, in the ordinary API.
    r = await host.served.client.get(
        f"/api/extensions/{host.install_id}/schedules/{created['id']}",
        headers=host.personas.admin_a.headers,
    )
    assert r.json()["name"] == "Audited"


async def test_get_endpoints_lists_the_installed_versions_endpoints(host: Host) -> None:
    r = await host.call({"operation": "getEndpoints"})
    assert r.status_code == 200
    found = {(e["method"], e["path"]): e["schedulable"] for e in r.json()["endpoints"]}
    assert found == {
        ("POST", "/sync"): True,
        ("GET", "/report"): True,
        ("POST", "/report"): True,
        ("POST", "/items/:id"): False,
    }


@pytest.mark.parametrize(
    ("token", "reason"),
    [(None, "missing"), ("wrong-token", "wrong"), (TOKEN.upper(), "case differs")],
)
async def test_a_missing_or_wrong_runner_token_is_401(
    host: Host, token: str | None, reason: str
) -> None:
    r = await host.call({"operation": "list"}, token=token)
    assert (r.status_code, r.json()["code"]) == (401, "UNAUTHENTICATED"), reason


async def test_without_a_configured_token_every_call_is_refused(
    db_url: str, clock: ManualClock
) -> None:
    _, app = await served_host(db_url, clock, token=None)
    async with serve(app) as served:
        r = await served.client.post(
            "/api/internal/ext-scheduler/install/x",
            json={"operation": "list"},
            headers={"x-runner-auth": ""},
        )
        assert r.status_code == 401


def test_placeholder_tokens_match_nothing_in_production() -> None:
    assert runner_token_matches("changeme", "changeme", production=False)
    assert not runner_token_matches("changeme", "changeme", production=True)
    assert runner_token_matches(TOKEN, TOKEN, production=True)
    assert not runner_token_matches(TOKEN, TOKEN[:-1], production=True)
    assert not runner_token_matches(None, "", production=False)


async def test_an_unknown_or_disabled_install_is_404_and_a_foreign_schedule_too(host: Host) -> None:
    r = await host.call({"operation": "list"}, install_id="no-such-install")
    assert (r.status_code, r.json()["code"]) == (404, "EXTENSION_NOT_INSTALLED")
    # Tenant B installs the same extension and makes a schedule there.
    theirs_install = await install(
        host.served.client, host.personas.admin_b, host.registry_id, grantedCaps=[MANAGE]
    )
    theirs = await host.call(
        {"operation": "create", "endpoint": "POST /sync", "cron": "0 1 * * *"},
        install_id=theirs_install["id"],
    )
    assert theirs.status_code == 201
    for op in ("get", "update", "delete"):
        r = await host.call(
            {"operation": op, "scheduleId": theirs.json()["schedule"]["id"], "name": "x"}
            if op == "update"
            else {"operation": op, "scheduleId": theirs.json()["schedule"]["id"]}
        )
        assert (r.status_code, r.json()["code"]) == (404, "SCHEDULE_NOT_FOUND"), op
    r = await host.served.client.post(
        f"/api/v1/extensions/{host.install_id}/disable", headers=host.personas.admin_a.headers
    )
    assert r.status_code == 200
    r = await host.call({"operation": "list"})
    assert (r.status_code, r.json()["code"]) == (404, "EXTENSION_NOT_INSTALLED")


async def test_an_install_not_granted_scheduler_manage_is_403(host: Host) -> None:
    r = await host.served.client.put(
        f"/api/v1/extensions/{host.install_id}/config",
        json={"grantedCaps": []},
        headers=host.personas.admin_a.headers,
    )
    assert r.status_code == 200, r.text
    r = await host.call({"operation": "list"})
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")


async def test_more_than_ten_changes_a_minute_are_429_and_reads_are_not_counted(host: Host) -> None:
    made = [await host.create(name=f"s{i}", cron=f"{i} 9 * * *") for i in range(5)]
    for s in made[:3]:
        assert (
            await host.call({"operation": "update", "scheduleId": s["id"], "enabled": False})
        ).status_code == 200
    for s in made[3:]:
        assert (await host.call({"operation": "delete", "scheduleId": s["id"]})).status_code == 200
    refused = await host.call(
        {"operation": "create", "endpoint": "POST /sync", "cron": "0 1 * * *"}
    )
    assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
    assert refused.headers["retry-after"] == "60"
    assert (await host.call({"operation": "list"})).status_code == 200
    assert len((await host.call({"operation": "list"})).json()["schedules"]) == 3
    host.clock.advance(timedelta(seconds=61))
    assert (
        await host.call({"operation": "create", "endpoint": "POST /sync", "cron": "0 1 * * *"})
    ).status_code == 201


async def test_every_invalid_field_is_reported_by_this_apis_names_and_nothing_is_saved(
    host: Host,
) -> None:
    r = await host.call(
        {
            "operation": "create",
            "endpoint": "POST /nowhere",
            "cron": "*/2 * * * *",
            "timezone": "Mars/Olympus",
            "name": "n" * 200,
            "payload": {"password": "hunter2"},
        }
    )
    assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_FAILED")
    errors = r.json()["fieldErrors"]
    assert set(errors) == {"endpoint", "cron", "timezone", "name", "payload"}
    assert "no endpoint POST /nowhere" in errors["endpoint"]
    assert (await host.call({"operation": "list"})).json() == {"schedules": []}


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("/report", "both GET and POST /report exist"),
        ("POST /items/:id", "cannot be scheduled"),
        ("DELETE /sync", "no endpoint DELETE /sync"),
        (42, "METHOD /path"),
    ],
)
async def test_an_endpoint_is_named_by_method_and_path(
    host: Host, endpoint: Any, message: str
) -> None:
    r = await host.call({"operation": "create", "endpoint": endpoint, "cron": "0 9 * * *"})
    assert r.status_code == 422
    assert message in r.json()["fieldErrors"]["endpoint"]


async def test_a_path_alone_names_its_one_schedulable_endpoint(host: Host) -> None:
    s = await host.create(endpoint="sync")  # normalized as manifests are: "/sync"
    assert (s["endpointMethod"], s["endpointPath"]) == ("POST", "/sync")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"operation": "explode"}, "operation"),
        ({}, "operation"),
        ({"operation": "get"}, "scheduleId"),
        ({"operation": "delete", "scheduleId": ""}, "scheduleId"),
        ({"operation": "list", "maxAttempts": 2}, "maxAttempts"),
        ([1, 2], "body"),
    ],
)
async def test_a_malformed_call_is_422_naming_the_field(host: Host, body: Any, field: str) -> None:
    r = await host.call(body)
    assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_FAILED")
    assert field in r.json()["fieldErrors"]


async def test_openapi_documents_the_host_api_as_a_union_by_operation_and_the_gateway(
    host: Host,
) -> None:
    doc = (await host.served.client.get("/openapi.json")).json()
    request = doc["components"]["schemas"]["HostRequest"]
    assert request["discriminator"]["propertyName"] == "operation"
    assert set(request["discriminator"]["mapping"]) == {
        "list",
        "get",
        "create",
        "update",
        "delete",
        "getEndpoints",
    }
    op = doc["paths"]["/api/internal/ext-scheduler/install/{install_id}"]["post"]
    assert op["security"] == [{"runnerAuth": []}]
    assert {"401", "403", "404", "409", "422", "429"} <= set(op["responses"])
    gateway = doc["paths"]["/api/ext/{extension_id}/{path}"]
    assert set(gateway) == {"get", "head", "post", "put", "patch", "delete"}
    assert {"404", "413", "429", "502", "504"} <= set(gateway["post"]["responses"])


async def test_a_schedule_made_without_a_zone_takes_the_tenants_default(host: Host) -> None:
    r = await host.served.client.put(
        "/api/tenant/settings",
        json={"defaultTimezone": "Europe/Paris"},
        headers=host.personas.admin_a.headers,
    )
    assert r.status_code == 200
    assert (await host.create())["timezone"] == "Europe/Paris"
