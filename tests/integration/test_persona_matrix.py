"""Every tenant route with four personas (DESIGN practice 8, issue 15): the owner tenant's admin,
its read-only user, its client-portal user and another tenant's admin. A refused request answers
the documented problem and changes nothing; another tenant's resource is a 404 even with a body
that would be invalid (SPEC §8's order)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Persona, Personas
from tests.support.seed import install, publish

INVALID = {"cron": "not a cron", "name": 42, "enabled": "yes", "unknown": True}


@pytest.fixture
async def world(client: httpx.AsyncClient, personas: Personas) -> dict[str, Any]:
    version = await publish(client, personas.operator)
    await publish(client, personas.operator, version="1.1.0", registry_id=version["registryId"])
    inst = await install(client, personas.admin_a, version["registryId"])
    sync = next(e["id"] for e in version["endpoints"] if e["path"] == "/sync")
    r = await client.post(
        f"/api/extensions/{inst['id']}/schedules",
        json={"endpointId": sync, "cron": "0 9 * * *", "name": "Owned"},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 201
    return {
        "install": inst,
        "registryId": version["registryId"],
        "schedule": r.json(),
        "sync": sync,
    }


def routes(w: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """(method, path, a valid body, writes) for every route naming one tenant's install."""
    inst, reg, sid = w["install"]["id"], w["registryId"], w["schedule"]["id"]
    base = f"/api/extensions/{inst}/schedules"
    return [
        ("GET", base, None, False),
        ("GET", f"{base}/{sid}", None, False),
        ("GET", f"{base}/{sid}/runs", None, False),
        ("POST", f"{base}/preview", {"cron": "0 8 * * *"}, False),
        ("GET", f"/api/extensions/{inst}/endpoints", None, False),
        ("GET", f"/api/extensions/{inst}/versions", None, False),
        ("GET", f"/api/v1/extensions/{inst}", None, False),
        (
            "POST",
            "/api/v1/extensions/update/preview",
            {"registryId": reg, "version": "1.1.0"},
            False,
        ),
        ("POST", base, {"endpointId": w["sync"], "cron": "0 8 * * *"}, True),
        ("PATCH", f"{base}/{sid}", {"name": "renamed"}, True),
        ("POST", f"{base}/{sid}/run-now", None, True),
        ("POST", f"{base}/bulk", {"enabled": False}, True),
        ("PUT", f"/api/v1/extensions/{inst}/config", {"config": {"k": "v"}}, True),
        ("PUT", f"/api/v1/extensions/{inst}/secrets", {"secrets": {"K": "v"}}, True),
        ("POST", f"/api/v1/extensions/{inst}/disable", None, True),
        ("POST", f"/api/v1/extensions/{inst}/enable", None, True),
        ("POST", "/api/v1/extensions/update", {"registryId": reg, "version": "1.1.0"}, True),
        ("DELETE", f"{base}/{sid}", None, True),
        ("POST", "/api/v1/extensions/uninstall", {"registryId": reg}, True),
    ]


async def state(client: httpx.AsyncClient, owner: Persona, w: dict[str, Any]) -> dict[str, Any]:
    """Everything a write could have changed, as the owner's admin reads it."""
    inst, sid = w["install"]["id"], w["schedule"]["id"]

    async def get(path: str) -> Any:
        r = await client.get(path, headers=owner.headers)
        return (r.status_code, r.json())

    return {
        "install": await get(f"/api/v1/extensions/{inst}"),
        "schedules": await get(f"/api/extensions/{inst}/schedules"),
        "runs": await get(f"/api/extensions/{inst}/schedules/{sid}/runs"),
        "settings": await get("/api/tenant/settings"),
        "audit": await get("/api/tenant/audit"),
    }


@pytest.mark.reliability(
    fault="a client-portal user on every route",
    guarantee="403 everywhere but the gateway; nothing changed",
)
async def test_a_client_portal_user_is_refused_everywhere_but_the_gateway_and_changes_nothing(
    client: httpx.AsyncClient, personas: Personas, world: dict[str, Any]
) -> None:
    before = await state(client, personas.admin_a, world)
    for method, path, body, _ in routes(world):
        r = await client.request(method, path, json=body, headers=personas.client_a.headers)
        assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN"), (method, path)
    for path in ("/api/tenant/settings", "/api/tenant/audit", "/api/v1/extensions"):
        r = await client.get(path, headers=personas.client_a.headers)
        assert r.status_code == 403, path
    assert await state(client, personas.admin_a, world) == before
    r = await client.get("/api/ext/acme.sample/status", headers=personas.client_a.headers)
    assert r.status_code not in (401, 403), r.text  # admitted: the Runner answers or not


async def test_a_read_only_user_reads_and_every_write_is_refused_without_effect(
    client: httpx.AsyncClient, personas: Personas, world: dict[str, Any]
) -> None:
    before = await state(client, personas.admin_a, world)
    for method, path, body, writes in routes(world):
        r = await client.request(method, path, json=body, headers=personas.reader_a.headers)
        if writes:
            assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN"), (method, path)
        else:
            assert r.status_code == 200, (method, path, r.text)
    r = await client.post("/api/ext/acme.sample/sync", headers=personas.reader_a.headers)
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    assert await state(client, personas.admin_a, world) == before


@pytest.mark.reliability(
    fault="another tenant's admin on every route, with invalid bodies",
    guarantee="404, never 403 or 422; nothing changed",
)
async def test_another_tenants_admin_gets_404_even_with_invalid_bodies_and_changes_nothing(
    client: httpx.AsyncClient, personas: Personas, world: dict[str, Any]
) -> None:
    before = await state(client, personas.admin_a, world)
    for method, path, body, _ in routes(world):
        if path.startswith("/api/v1/extensions/u"):  # update, preview, uninstall name a registry id
            continue
        bad = INVALID if body is not None else None
        r = await client.request(method, path, json=bad, headers=personas.admin_b.headers)
        assert (r.status_code, r.json()["code"]) == (404, "EXTENSION_NOT_INSTALLED"), (method, path)
    for path, body in (
        (
            "/api/v1/extensions/update/preview",
            {"registryId": world["registryId"], "version": "1.1.0"},
        ),
        ("/api/v1/extensions/update", {"registryId": world["registryId"], "version": "1.1.0"}),
    ):
        r = await client.post(path, json=body, headers=personas.admin_b.headers)
        assert r.status_code == 404, (path, r.text)
    r = await client.get("/api/ext/acme.sample/status", headers=personas.admin_b.headers)
    assert (r.status_code, r.json()["code"]) == (404, "EXTENSION_NOT_INSTALLED")
    assert await state(client, personas.admin_a, world) == before


async def test_a_users_bearer_token_is_no_runner_token_for_the_host_api(
    client: httpx.AsyncClient, personas: Personas, world: dict[str, Any]
) -> None:
    for who in (personas.admin_a, personas.operator):
        r = await client.post(
            f"/api/internal/ext-scheduler/install/{world['install']['id']}",
            json={"operation": "create", "endpoint": "POST /sync", "cron": "0 1 * * *"},
            headers=who.headers,
        )
        assert (r.status_code, r.json()["code"]) == (401, "UNAUTHENTICATED")
    after = await client.get(
        f"/api/extensions/{world['install']['id']}/schedules", headers=personas.admin_a.headers
    )
    assert [s["name"] for s in after.json()["schedules"]] == ["Owned"]


async def test_the_owner_admin_may_do_everything_in_turn(
    client: httpx.AsyncClient, personas: Personas, world: dict[str, Any]
) -> None:
    for method, path, body, _ in routes(world):
        r = await client.request(method, path, json=body, headers=personas.admin_a.headers)
        assert r.status_code in (200, 201, 202, 204), (method, path, r.text)
    r = await client.get(
        f"/api/v1/extensions/{world['install']['id']}", headers=personas.admin_a.headers
    )
    assert (r.status_code, r.json()["code"]) == (404, "EXTENSION_NOT_INSTALLED")  # uninstalled last
