"""Readiness reports the database, the backend and every background loop."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI


async def test_readiness_names_a_loop_that_is_down_until_it_runs_again(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    loops = app.state.services.loops
    loops.first_delay = 60.0  # stays down for the length of the test
    healthy = asyncio.Event()
    loops.start("sync", healthy.wait)

    async def broken() -> None:
        raise RuntimeError("lost its way")

    loops.start("dispatcher", broken)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {
        "database": "ok",
        "backend": "ok",
        "loop:sync": "ok",
        "loop:dispatcher": "down, restarting: RuntimeError: lost its way",
    }
    await loops.stop()
    r = await client.get("/readyz")
    assert (r.status_code, r.json()["status"]) == (200, "ready")


async def test_readiness_reports_a_backend_that_cannot_be_reached(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    app.state.services.backend.fail_next = 1
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["backend"] == "error: memory backend: injected failure on ping"
    r = await client.get("/readyz")
    assert (r.status_code, r.json()["checks"]["backend"]) == (200, "ok")
