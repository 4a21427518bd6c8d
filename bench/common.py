"""What the benchmarks share: tokens, an in-process client, a published one-endpoint extension."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from extsched.api.app import create_app
from extsched.auth import EXTENSION_READ, EXTENSION_WRITE, PLATFORM_ADMIN, mint_token
from extsched.config import Settings
from extsched.ids import new_id

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


def yearly_rows(
    tenant_id: str, install_id: str, endpoint_id: str, now: datetime, payload: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One stored-but-not-due schedule (yearly, 1 January) as its domain and backend rows, for
    filling a database in bulk."""
    sid = new_id()
    nxt = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    schedule = {
        "tenant_id": tenant_id,
        "id": sid,
        "install_id": install_id,
        "endpoint_id": endpoint_id,
        "name": None,
        "cron": "0 0 1 1 *",
        "timezone": "UTC",
        "enabled": True,
        "payload_json": payload,
        "max_attempts": 3,
        "jitter_seconds": 0,
        "runner_schedule_id": None,
        "disabled_reason": None,
        "last_run_at": None,
        "last_run_status": None,
        "last_error": None,
        "last_success_at": None,
        "consecutive_failures": 0,
        "revision": 1,
        "created_at": now,
        "updated_at": now,
    }
    backend = {
        "tenant_id": tenant_id,
        "schedule_id": sid,
        "install_id": install_id,
        "cron": "0 0 1 1 *",
        "timezone": "UTC",
        "jitter_seconds": 0,
        "paused": False,
        "last_fired_for": None,
        "next_fire_for": nxt,
        "fire_at": nxt,
        "updated_at": now,
    }
    return schedule, backend


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def append_results(text: str) -> None:
    """Print a section of results and append it to bench/RESULTS.md."""
    print(text)
    with (Path(__file__).resolve().parent / "RESULTS.md").open("a") as f:
        f.write(text)
