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
    return {"install": inst, "registryId": version["registryId"]}


def routes(inst_id: str, registry_id: str) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """(method, path, body, writes) for every route that names one tenant's install."""
    return [
        ("GET", f"/api/extensions/{inst_id}/endpoints", None, False),
        ("GET", f"/api/v1/extensions/{inst_id}", None, False),
        ("PUT", f"/api/v1/extensions/{inst_id}/config", {"config": {"k": "v"}}, True),
        ("PUT", f"/api/v1/extensions/{inst_id}/secrets", {"secrets": {"K": "v"}}, True),
        ("POST", f"/api/v1/extensions/{inst_id}/disable", None, True),
        ("POST", f"/api/v1/extensions/{inst_id}/enable", None, True),
    ]


async def test_owner_admin_may_do_everything(
    client: httpx.AsyncClient, personas: Personas, installed: dict[str, Any]
) -> None:
    for method, path, body, _ in routes(installed["install"]["id"], installed["registryId"]):
        r = await client.request(method, path, json=body, headers=personas.admin_a.headers)
        assert r.status_code in (200, 204), (method, path, r.text)


async def test_owner_reader_may_read_but_not_write(
    client: httpx.AsyncClient, personas: Personas, installed: dict[str, Any]
) -> None:
    for method, path, body, writes in routes(installed["install"]["id"], installed["registryId"]):
        r = await client.request(method, path, json=body, headers=personas.reader_a.headers)
        expected = 403 if writes else 200
        assert r.status_code == expected, (method, path, r.text)


async def test_another_tenant_sees_404_never_403(
    client: httpx.AsyncClient, personas: Personas, installed: dict[str, Any]
) -> None:
    inst_id, reg = installed["install"]["id"], installed["registryId"]
    for method, path, body, _ in routes(inst_id, reg):
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
