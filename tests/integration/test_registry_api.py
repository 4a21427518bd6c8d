from __future__ import annotations

import httpx

from tests.conftest import Personas
from tests.support.seed import content_hash, install, manifest, publish


async def test_publishing_normalizes_and_materializes_endpoints(
    client: httpx.AsyncClient, personas: Personas
) -> None:
    version = await publish(
        client,
        personas.operator,
        endpoints=[
            {"method": "post", "path": "./sync", "handler": "old"},
            {"method": "GET", "path": "status", "handler": "s"},
            {"method": "POST", "path": "//sync", "handler": "new"},
            {"method": "get", "path": "/items/{id}", "handler": "i"},
        ],
    )
    got = {(e["method"], e["path"]): e for e in version["endpoints"]}
    assert set(got) == {("POST", "/sync"), ("GET", "/status"), ("GET", "/items/{id}")}
    assert got[("POST", "/sync")]["handler"] == "new"
    assert got[("GET", "/items/{id}")]["schedulable"] is False
    assert got[("GET", "/items/{id}")]["reason"] == "paths with parameters cannot be scheduled"
    assert version["contentHash"] == content_hash("1.0.0")
    assert version["capabilities"] == ["cap:http.fetch", "cap:scheduler.manage"]


async def test_an_invalid_manifest_is_a_400_listing_each_issue_and_writes_nothing(
    client: httpx.AsyncClient, personas: Personas
) -> None:
    r = await client.post(
        "/api/registry/extensions",
        json={"publisher": "acme", "name": "bad"},
        headers=personas.operator.headers,
    )
    registry_id = r.json()["id"]
    r = await client.post(
        f"/api/registry/extensions/{registry_id}/versions",
        json={
            "version": "1.0.0",
            "contentHash": content_hash("x"),
            "manifest": manifest(
                [
                    {"method": "TRACE", "path": "/a", "handler": "h"},
                    {"method": "GET", "path": "/../etc", "handler": "h"},
                ]
            ),
        },
        headers=personas.operator.headers,
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "INVALID_MANIFEST"
    assert body["errors"] == [
        {
            "path": "api.endpoints[0].method",
            "message": "method must be one of GET, POST, PUT, PATCH, DELETE",
        },
        {"path": "api.endpoints[1].path", "message": "path must not contain '..'"},
    ]
    r = await client.get(
        f"/api/registry/extensions/{registry_id}/versions", headers=personas.operator.headers
    )
    assert r.json() == {"versions": []}


async def test_versions_are_immutable(client: httpx.AsyncClient, personas: Personas) -> None:
    v = await publish(client, personas.operator)
    r = await client.post(
        f"/api/registry/extensions/{v['registryId']}/versions",
        json={"version": "1.0.0", "contentHash": content_hash("other"), "manifest": manifest()},
        headers=personas.operator.headers,
    )
    assert r.status_code == 409
    assert r.json()["code"] == "ALREADY_EXISTS"


async def test_publish_validates_version_and_content_hash_together(
    client: httpx.AsyncClient, personas: Personas
) -> None:
    v = await publish(client, personas.operator)
    r = await client.post(
        f"/api/registry/extensions/{v['registryId']}/versions",
        json={"version": " ", "contentHash": "md5:abc", "manifest": manifest()},
        headers=personas.operator.headers,
    )
    assert r.status_code == 422
    assert set(r.json()["fieldErrors"]) == {"version", "contentHash"}


async def test_a_version_in_use_cannot_be_deleted_and_an_unused_one_can(
    client: httpx.AsyncClient, personas: Personas
) -> None:
    v1 = await publish(client, personas.operator)
    reg = v1["registryId"]
    await publish(client, personas.operator, registry_id=reg, version="2.0.0")
    await install(client, personas.admin_a, reg, "1.0.0")

    r = await client.delete(
        f"/api/registry/extensions/{reg}/versions/1.0.0", headers=personas.operator.headers
    )
    assert r.status_code == 409
    assert r.json()["code"] == "VERSION_IN_USE"
    assert r.json()["installs"] == 1

    r = await client.delete(
        f"/api/registry/extensions/{reg}/versions/2.0.0", headers=personas.operator.headers
    )
    assert r.status_code == 204
    r = await client.get(
        f"/api/registry/extensions/{reg}/versions", headers=personas.operator.headers
    )
    assert [v["version"] for v in r.json()["versions"]] == ["1.0.0"]
    r = await client.delete(
        f"/api/registry/extensions/{reg}/versions/2.0.0", headers=personas.operator.headers
    )
    assert r.status_code == 404
    assert r.json()["code"] == "VERSION_NOT_FOUND"


async def test_registry_routes_are_for_platform_operators_only(
    client: httpx.AsyncClient, personas: Personas
) -> None:
    for who in (personas.admin_a, personas.reader_a, personas.client_a):
        r = await client.get("/api/registry/extensions", headers=who.headers)
        assert r.status_code == 403, who.name
        assert r.json()["code"] == "FORBIDDEN"
    r = await client.get("/api/registry/extensions", headers=personas.operator.headers)
    assert r.status_code == 200
