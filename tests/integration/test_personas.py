"""Every tenant route with the three personas: owner admin, owner reader, other tenant's admin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Personas
from tests.support.seed import install, publish


@pytest.fixture
async def installed(client: httpx.AsyncClient, personas: Personas) -> dict[str, Any]:
    version = await publish(client, personas.operator)
    inst = await install(client, personas.admin_a, version["registryId"])
    sync = next(e["id"] for e in version["endpoints"] if e["path"] == "/sync")
    r = await client.post(
        f"/api/extensions/{inst['id']}/schedules",
        json={"endpointId": sync, "cron": "0 9 * * *"},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 201
    return {
        "install": inst,
        "registryId": version["registryId"],
        "schedule": r.json(),
        "sync": sync,
    }


def routes(installed: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """(method, path, body, writes) for every route that names one tenant's install."""
    inst_id = installed["install"]["id"]
    base = f"/api/extensions/{inst_id}/schedules"
    one = f"{base}/{installed['schedule']['id']}"
    return [
        ("GET", base, None, False),
        ("POST", base, {"endpointId": installed["sync"], "cron": "0 8 * * *"}, True),
        ("POST", f"{base}/preview", {"cron": "0 8 * * *"}, False),
        ("POST", f"{base}/bulk", {"enabled": True}, True),
        ("GET", one, None, False),
        ("PATCH", one, {"name": "renamed"}, True),
        ("GET", f"{one}/runs", None, False),
        ("GET", f"/api/extensions/{inst_id}/endpoints", None, False),
        ("GET", f"/api/extensions/{inst_id}/versions", None, False),
        ("GET", f"/api/v1/extensions/{inst_id}", None, False),
        ("PUT", f"/api/v1/extensions/{inst_id}/config", {"config": {"k": "v"}}, True),
        ("PUT", f"/api/v1/extensions/{inst_id}/secrets", {"secrets": {"K": "v"}}, True),
        ("POST", f"/api/v1/extensions/{inst_id}/disable", None, True),
        ("POST", f"/api/v1/extensions/{inst_id}/enable", None, True),
        ("DELETE", one, None, True),
    ]


async def test_owner_admin_may_do_everything(
    client: httpx.AsyncClient, personas: Personas, installed: dict[str, Any]
) -> None:
    for method, path, body, _ in routes(installed):
        r = await client.request(method, path, json=body, headers=personas.admin_a.headers)
        assert r.status_code in (200, 201, 204), (method, path, r.text)


async def test_owner_reader_may_read_but_not_write(
    client: httpx.AsyncClient, personas: Personas, installed: dict[str, Any]
) -> None:
    for method, path, body, writes in routes(installed):
        r = await client.request(method, path, json=body, headers=personas.reader_a.headers)
        expected = 403 if writes else 200
        assert r.status_code == expected, (method, path, r.text)


async def test_another_tenant_sees_404_never_403(
    client: httpx.AsyncClient, personas: Personas, installed: dict[str, Any]
) -> None:
    inst_id, reg = installed["install"]["id"], installed["registryId"]
    for method, path, body, _ in routes(installed):
        r = await client.request(method, path, json=body, headers=personas.admin_b.headers)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["code"] == "EXTENSION_NOT_INSTALLED"
    for ext_id in (reg, "acme.sample"):
        r = await client.get(
            f"/api/extensions/{ext_id}/endpoints", headers=personas.admin_b.headers
        )
        assert r.status_code == 404
    # Tenant B's uninstall of A's extension is a no-op for B and leaves A's install alone.
    r = await client.post(
        "/api/v1/extensions/uninstall", json={"registryId": reg}, headers=personas.admin_b.headers
    )
    assert r.status_code == 204
    r = await client.get(f"/api/v1/extensions/{inst_id}", headers=personas.admin_a.headers)
    assert r.status_code == 200
    assert r.json()["config"] == {}


async def test_another_tenants_schedule_is_not_found_through_ones_own_install(
    client: httpx.AsyncClient, personas: Personas, installed: dict[str, Any]
) -> None:
    await install(client, personas.admin_b, installed["registryId"])
    sid = installed["schedule"]["id"]
    base = "/api/extensions/acme.sample/schedules"
    for method, path, body in [
        ("GET", f"{base}/{sid}", None),
        ("PATCH", f"{base}/{sid}", {"name": "mine"}),
        ("DELETE", f"{base}/{sid}", None),
        ("GET", f"{base}/{sid}/runs", None),
    ]:
        r = await client.request(method, path, json=body, headers=personas.admin_b.headers)
        assert (r.status_code, r.json()["code"]) == (404, "SCHEDULE_NOT_FOUND"), (method, path)
    r = await client.get(base, headers=personas.admin_b.headers)
    assert r.json()["schedules"] == []
    r = await client.get(f"{base}/{sid}", headers=personas.admin_a.headers)
    assert r.json()["name"] is None


async def test_tenant_routes_with_each_persona(
    client: httpx.AsyncClient, personas: Personas, installed: dict[str, Any]
) -> None:
    for path in ("/api/tenant/settings", "/api/tenant/audit"):
        assert (await client.get(path, headers=personas.reader_a.headers)).status_code == 200
        assert (await client.get(path, headers=personas.client_a.headers)).status_code == 403
    r = await client.put(
        "/api/tenant/settings", json={"schedulesPaused": True}, headers=personas.reader_a.headers
    )
    assert r.status_code == 403
    r = await client.put(
        "/api/tenant/settings", json={"schedulesPaused": True}, headers=personas.admin_b.headers
    )
    assert r.status_code == 200
    r = await client.get("/api/tenant/settings", headers=personas.admin_a.headers)
    assert r.json()["schedulesPaused"] is False
    audit_b = (await client.get("/api/tenant/audit", headers=personas.admin_b.headers)).json()
    assert [e["action"] for e in audit_b["entries"]] == ["tenant.settings_updated"]
