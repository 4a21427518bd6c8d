"""A fire's activity heartbeats while it lasts, so Temporal notices a worker that went away; a
quick one sends none (run in the SDK's in-memory activity environment)."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.testing import ActivityEnvironment

from extsched.backends.temporal.activities import heartbeating


async def lasting(seconds: float) -> None:
    async with heartbeating(every=0.02):
        await asyncio.sleep(seconds)


async def test_an_activity_heartbeats_while_it_lasts_and_stops_when_it_ends() -> None:
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    await env.run(lasting, 0.15)
    assert len(beats) >= 2
    seen = len(beats)
    await asyncio.sleep(0.05)
    assert len(beats) == seen  # none after the activity ended


async def test_a_quick_activity_sends_no_heartbeat() -> None:
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    await env.run(lasting, 0.0)
    assert beats == []
