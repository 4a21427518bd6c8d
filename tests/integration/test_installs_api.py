from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Personas
from tests.support.seed import install, publish


@pytest.fixture
async def published(client: httpx.AsyncClient, personas: Personas) -> dict[str, Any]:
    return await publish(client, personas.operator)


async def test_install_returns_the_pinned_version_and_an_etag(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    r = await client.post(
        "/api/v1/extensions/install",
        json={
            "registryId": published["registryId"],
            "version": "1.0.0",
            "config": {"region": "eu"},
            "grantedCaps": ["cap:scheduler.manage"],
        },
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 201
    body = r.json()
    assert body["registryId"] == published["registryId"]
    assert body["versionId"] == published["id"]
    assert body["version"] == "1.0.0"
    assert body["enabled"] is True
    assert body["config"] == {"region": "eu"}
    assert body["grantedCaps"] == ["cap:scheduler.manage"]
    assert body["revision"] == 1
    assert r.headers["etag"] == '"1"'


async def test_installing_twice_is_a_conflict(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    await install(client, personas.admin_a, published["registryId"])
    r = await client.post(
        "/api/v1/extensions/install",
        json={"registryId": published["registryId"], "version": "1.0.0"},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 409
    assert r.json()["code"] == "ALREADY_EXISTS"


async def test_unknown_extension_or_version_are_field_errors(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    r = await client.post(
        "/api/v1/extensions/install",
        json={"registryId": "nope", "version": "1.0.0"},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 422
    assert r.json()["fieldErrors"] == {"registryId": "no such extension"}
    r = await client.post(
        "/api/v1/extensions/install",
        json={"registryId": published["registryId"], "version": "9.9.9"},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 422
    assert r.json()["fieldErrors"] == {"version": "no version 9.9.9"}


async def test_extension_id_resolves_install_id_registry_id_and_slug(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    inst = await install(client, personas.admin_a, published["registryId"])
    for ext_id in (inst["id"], published["registryId"], "acme.sample", "ACME.Sample"):
        r = await client.get(
            f"/api/extensions/{ext_id}/endpoints", headers=personas.reader_a.headers
        )
        assert r.status_code == 200, ext_id
        assert len(r.json()["endpoints"]) == 4


async def test_endpoints_list_flags_unschedulable_ones_with_a_reason(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    await install(client, personas.admin_a, published["registryId"])
    r = await client.get("/api/extensions/acme.sample/endpoints", headers=personas.admin_a.headers)
    got = {(e["method"], e["path"]): (e["schedulable"], e["reason"]) for e in r.json()["endpoints"]}
    assert got == {
        ("POST", "/sync"): (True, None),
        ("GET", "/status"): (True, None),
        ("POST", "/items/:id"): (False, "paths with parameters cannot be scheduled"),
        ("DELETE", "/cache"): (
            False,
            "only GET and POST endpoints can be scheduled (DELETE cannot)",
        ),
    }
    assert all(e["id"] and e["handler"] for e in r.json()["endpoints"])


async def test_an_extension_the_tenant_has_not_installed_is_404(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    r = await client.get("/api/extensions/acme.sample/endpoints", headers=personas.admin_a.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "EXTENSION_NOT_INSTALLED"


async def test_disable_enable_and_config_bump_the_revision_and_honour_if_match(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    inst = await install(client, personas.admin_a, published["registryId"])
    h = personas.admin_a.headers
    r = await client.post(f"/api/v1/extensions/{inst['id']}/disable", headers=h)
    assert r.status_code == 200
    assert (r.json()["enabled"], r.json()["revision"]) == (False, 2)
    r = await client.post(
        f"/api/v1/extensions/{inst['id']}/enable", headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 409
    assert r.json()["code"] == "REVISION_CONFLICT"
    r = await client.post(f"/api/v1/extensions/{inst['id']}/enable", headers={**h, "If-Match": "2"})
    assert (r.status_code, r.json()["enabled"], r.json()["revision"]) == (200, True, 3)
    r = await client.put(
        f"/api/v1/extensions/{inst['id']}/config",
        json={"config": {"a": "b"}, "grantedCaps": ["cap:x", "cap:x"]},
        headers={**h, "If-Match": '"3"'},
    )
    assert r.status_code == 200
    assert (r.json()["config"], r.json()["grantedCaps"], r.headers["etag"]) == (
        {"a": "b"},
        ["cap:x"],
        '"4"',
    )
    r = await client.put(
        f"/api/v1/extensions/{inst['id']}/config", json={"config": {"a": 1}}, headers=h
    )
    assert r.status_code == 422
    assert r.json()["fieldErrors"] == {"config": "config must map strings to strings"}


async def test_secrets_are_write_only_and_never_audited(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    inst = await install(client, personas.admin_a, published["registryId"])
    r = await client.put(
        f"/api/v1/extensions/{inst['id']}/secrets",
        json={"secrets": {"API_KEY": "s3cr3t-value"}},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 204
    r = await client.get(f"/api/v1/extensions/{inst['id']}", headers=personas.admin_a.headers)
    assert r.json()["hasSecrets"] is True
    assert "s3cr3t-value" not in r.text
    r = await client.get("/api/tenant/audit", headers=personas.admin_a.headers)
    assert "s3cr3t-value" not in r.text
    entry = r.json()["entries"][0]
    assert (entry["action"], entry["details"]) == (
        "install.secrets_updated",
        {"names": ["API_KEY"]},
    )


async def test_uninstall_removes_the_install_and_is_idempotent(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    await install(client, personas.admin_a, published["registryId"])
    for _ in range(2):
        r = await client.post(
            "/api/v1/extensions/uninstall",
            json={"registryId": published["registryId"]},
            headers=personas.admin_a.headers,
        )
        assert r.status_code == 204
    r = await client.get("/api/extensions/acme.sample/endpoints", headers=personas.admin_a.headers)
    assert r.status_code == 404
    await install(client, personas.admin_a, published["registryId"])


async def test_every_install_change_is_audited_with_actor_and_changed_fields(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    inst = await install(client, personas.admin_a, published["registryId"])
    h = personas.admin_a.headers
    await client.post(f"/api/v1/extensions/{inst['id']}/disable", headers=h)
    await client.post(f"/api/v1/extensions/{inst['id']}/enable", headers=h)
    await client.put(
        f"/api/v1/extensions/{inst['id']}/config", json={"config": {"k": "v"}}, headers=h
    )
    await client.post(
        "/api/v1/extensions/uninstall", json={"registryId": published["registryId"]}, headers=h
    )
    r = await client.get("/api/tenant/audit", params={"limit": 2}, headers=h)
    page1 = r.json()
    assert [e["action"] for e in page1["entries"]] == [
        "install.uninstalled",
        "install.config_updated",
    ]
    assert page1["entries"][1]["details"] == {
        "before": {"config": {}},
        "after": {"config": {"k": "v"}},
    }
    assert page1["entries"][1]["actor"] == "alice"
    assert page1["entries"][1]["targetType"] == "install"
    assert page1["entries"][1]["targetId"] == inst["id"]
    r = await client.get(
        "/api/tenant/audit", params={"limit": 50, "cursor": page1["nextCursor"]}, headers=h
    )
    page2 = r.json()
    assert [e["action"] for e in page2["entries"]] == [
        "install.enabled",
        "install.disabled",
        "install.created",
    ]
    assert page2["nextCursor"] is None
    r = await client.get("/api/tenant/audit", headers=personas.admin_b.headers)
    assert r.json()["entries"] == []


async def test_a_tenant_lists_its_own_installs_with_slug_and_display_name(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    inst = await install(client, personas.admin_a, published["registryId"])
    r = await client.get("/api/v1/extensions", headers=personas.reader_a.headers)
    assert r.status_code == 200
    [listed] = r.json()["extensions"]
    assert listed["id"] == inst["id"]
    assert (listed["slug"], listed["displayName"], listed["version"]) == (
        "acme.sample",
        "Sample",
        "1.0.0",
    )
    other = await client.get("/api/v1/extensions", headers=personas.admin_b.headers)
    assert other.json() == {"extensions": []}


async def test_versions_lists_what_the_install_may_move_to_newest_first(
    client: httpx.AsyncClient, personas: Personas, published: dict[str, Any]
) -> None:
    registry_id = published["registryId"]
    for version in ("1.1.0", "2.0.0"):
        await publish(client, personas.operator, version=version, registry_id=registry_id)
    await install(client, personas.admin_a, registry_id, version="1.1.0")
    r = await client.get("/api/extensions/acme.sample/versions", headers=personas.reader_a.headers)
    assert r.status_code == 200
    listed = r.json()["versions"]
    assert [(v["version"], v["current"]) for v in listed] == [
        ("2.0.0", False),
        ("1.1.0", True),
        ("1.0.0", False),
    ]
    assert all(v["createdAt"].endswith("Z") for v in listed)
    other = await client.get(
        "/api/extensions/acme.sample/versions", headers=personas.admin_b.headers
    )
    assert other.status_code == 404
    assert other.json()["code"] == "EXTENSION_NOT_INSTALLED"
