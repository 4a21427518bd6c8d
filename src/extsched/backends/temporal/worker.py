"""The Temporal worker: polls extsched's task queue and runs its workflows and activities."""

from __future__ import annotations

import asyncio
import concurrent.futures

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from extsched.backends.temporal.activities import Activities
from extsched.backends.temporal.workflows import FireWorkflow, RunWorkflow


def build_worker(
    client: Client, task_queue: str, activities: Activities, *, concurrency: int = 256
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[FireWorkflow, RunWorkflow],
        activities=[activities.fire, activities.record, activities.attempt],
        max_concurrent_activities=concurrency,
        # Workflow tasks run in threads of their own; the activities are async on this loop.
        workflow_task_executor=concurrent.futures.ThreadPoolExecutor(max_workers=4),
        # Temporal's sandbox re-imports the workflow module for every workflow it starts, which
        # cost most of a worker's CPU in a burst (bench/RESULTS.md). The workflows are kept
        # deterministic by the module's rules instead (tests/unit/test_layers.py checks its
        # imports) and by replaying recorded histories (tests/integration/test_temporal_replay.py).
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def run_until(worker: Worker, stop: asyncio.Event) -> None:
    """Run ``worker`` until ``stop`` is set, then shut it down (in-flight activities finish)."""
    async with worker:
        await stop.wait()
