"""The baseline for extsched on Temporal: plain Temporal Schedules, each starting a workflow whose
one activity POSTs to the stub Runner. What Temporal alone costs for the same burst on the same
dev server, measured in the same run as extsched (bench/burst.py, the temporal configurations).

    .venv/bin/python bench/temporal_raw.py worker --address H:P --task-queue Q --stub URL
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timedelta

import aiohttp
from temporalio import activity, workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import SearchAttributeKey
from temporalio.worker import Worker

WORKFLOW, ACTIVITY = "bench.raw", "bench.post"
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn(name=WORKFLOW, sandboxed=False)
class RawFire:
    @workflow.run
    async def run(self) -> None:
        at = workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        await workflow.execute_activity(
            ACTIVITY,
            [workflow.info().workflow_id, at.isoformat()],
            start_to_close_timeout=timedelta(seconds=60),
        )


class Poster:
    def __init__(self, session: aiohttp.ClientSession, stub: str) -> None:
        self.session = session
        self.stub = stub

    @activity.defn(name=ACTIVITY)
    async def post(self, fire: list[str]) -> None:
        run_id, scheduled_for = fire
        body = {"context": {"run_id": run_id, "scheduled_for": scheduled_for}, "http": {}}
        async with self.session.post(f"{self.stub}/v1/execute", json=body) as r:
            await r.read()


async def create(client: Client, task_queue: str, n: int, due_at: datetime) -> None:
    """N schedules due at ``due_at``, with the settings extsched gives its own (overlap SKIP)."""
    cron = f"{due_at.minute} {due_at.hour} {due_at.day} {due_at.month} *"
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(WORKFLOW, id=f"raw-{i}", task_queue=task_queue),
            spec=ScheduleSpec(cron_expressions=[cron], time_zone_name="UTC"),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        )
        async with gate:
            await client.create_schedule(f"raw:{i}", schedule)

    await asyncio.gather(*(one(i) for i in range(n)))


async def work(address: str, task_queue: str, stub: str, concurrency: int) -> None:
    client = await Client.connect(address)
    async with aiohttp.ClientSession() as session:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[RawFire],
            activities=[Poster(session, stub).post],
            max_concurrent_activities=concurrency,
        )
        await worker.run()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["worker"])
    ap.add_argument("--address", required=True)
    ap.add_argument("--task-queue", required=True)
    ap.add_argument("--stub", required=True)
    ap.add_argument("--concurrency", type=int, default=256)
    args = ap.parse_args()
    asyncio.run(work(args.address, args.task_queue, args.stub, args.concurrency))
