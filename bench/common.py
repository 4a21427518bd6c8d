"""What the benchmarks share: tokens, an in-process client, a published one-endpoint extension."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from tests.support.burst import yearly_rows  # noqa: F401 (bench modules import it from here)

from extsched.api.app import create_app
from extsched.auth import EXTENSION_READ, EXTENSION_WRITE, PLATFORM_ADMIN, mint_token
from extsched.config import Settings

SECRET = "bench-secret-0123456789-0123456789-abcd"
OPERATOR = [PLATFORM_ADMIN]
ADMIN = [EXTENSION_READ, EXTENSION_WRITE]


def bearer(tenant: str | None, permissions: list[str]) -> dict[str, str]:
    token = mint_token(SECRET, sub="bench", tenant=tenant, permissions=permissions)
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def in_process(settings: Settings, **app_options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app (no background loops) behind an httpx client, no network."""
    app = create_app(settings, background=False, **app_options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def publish_sample(c: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """The extension ``b.x`` with one version "1" declaring ``POST /x``."""
    op = bearer(None, OPERATOR)
    ext = (
        await c.post("/api/registry/extensions", json={"publisher": "b", "name": "x"}, headers=op)
    ).json()
    manifest = {"api": {"endpoints": [{"method": "POST", "path": "/x", "handler": "h"}]}}
    version = (
        await c.post(
            f"/api/registry/extensions/{ext['id']}/versions",
            json={"version": "1", "contentHash": "sha256:" + "0" * 64, "manifest": manifest},
            headers=op,
        )
    ).json()
    return ext, version


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def append_results(text: str) -> None:
    """Print a section of results and append it to bench/RESULTS.md."""
    print(text)
    with (Path(__file__).resolve().parent / "RESULTS.md").open("a") as f:
        f.write(text)
