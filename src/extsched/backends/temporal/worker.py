"""The Temporal worker: polls extsched's task queue and runs its workflows and activities."""

from __future__ import annotations

import asyncio
import concurrent.futures

from temporalio.client import Client
from temporalio.worker import Worker

from extsched.backends.temporal.activities import Activities
from extsched.backends.temporal.workflows import FireWorkflow, RunWorkflow


def build_worker(
    client: Client, task_queue: str, activities: Activities, *, concurrency: int = 256
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[FireWorkflow, RunWorkflow],
        activities=[activities.record, activities.attempt],
        max_concurrent_activities=concurrency,
        # Workflow tasks run in threads of their own; the activities are async on this loop.
        workflow_task_executor=concurrent.futures.ThreadPoolExecutor(max_workers=4),
    )


async def run_until(worker: Worker, stop: asyncio.Event) -> None:
    """Run ``worker`` until ``stop`` is set, then shut it down (in-flight activities finish)."""
    async with worker:
        await stop.wait()
