"""Building blocks for API tests: publish an extension version and install it for a tenant."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from fastapi import FastAPI

from extsched.backends.memory import MemoryJobRunner
from tests.conftest import Persona

SAMPLE_ENDPOINTS: list[dict[str, str]] = [
    {"method": "POST", "path": "/sync", "handler": "dist/sync.js"},
    {"method": "GET", "path": "/status", "handler": "dist/status.js"},
    {"method": "POST", "path": "/items/:id", "handler": "dist/item.js"},
    {"method": "DELETE", "path": "/cache", "handler": "dist/cache.js"},
]


def content_hash(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def manifest(endpoints: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": "sample",
        "capabilities": ["cap:scheduler.manage", "cap:http.fetch"],
        "api": {"endpoints": SAMPLE_ENDPOINTS if endpoints is None else endpoints},
        **extra,
    }


async def publish(
    client: httpx.AsyncClient,
    operator: Persona,
    *,
    publisher: str = "acme",
    name: str = "sample",
    version: str = "1.0.0",
    endpoints: list[dict[str, str]] | None = None,
    registry_id: str | None = None,
) -> dict[str, Any]:
    """Create the extension (unless ``registry_id`` is given) and publish one version."""
    if registry_id is None:
        r = await client.post(
            "/api/registry/extensions",
            json={"publisher": publisher, "name": name, "displayName": "Sample"},
            headers=operator.headers,
        )
        assert r.status_code == 201, r.text
        registry_id = r.json()["id"]
    r = await client.post(
        f"/api/registry/extensions/{registry_id}/versions",
        json={
            "version": version,
            "contentHash": content_hash(version),
            "manifest": manifest(endpoints),
        },
        headers=operator.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def install(
    client: httpx.AsyncClient, who: Persona, registry_id: str, version: str = "1.0.0", **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/extensions/install",
        json={"registryId": registry_id, "version": version, **extra},
        headers=who.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def installed_sample(
    client: httpx.AsyncClient, operator: Persona, admin: Persona
) -> dict[str, Any]:
    """Publish the sample extension, install it for ``admin``'s tenant; endpoint ids by key."""
    version = await publish(client, operator)
    inst = await install(client, admin, version["registryId"])
    ids = {f"{e['method']} {e['path']}": e["id"] for e in version["endpoints"]}
    return {"install": inst, "registryId": version["registryId"], "endpoints": ids}


def memory_backend(app: FastAPI) -> MemoryJobRunner:
    """The in-memory backend the API test app runs on."""
    runner = app.state.services.backend
    assert isinstance(runner, MemoryJobRunner)
    return runner
