"""The workflows replay deterministically inside Temporal's sandbox.

The worker runs them unsandboxed for speed; here histories they made on a real dev server, through
every branch (a fire recorded and handed to its run, a fire with nothing to run, a retry slept on a
durable timer, a lost attempt waited out), are replayed with the sandbox's restrictions, which
fail on a clock read, randomness, I/O or a step that differs from the history."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

from extsched.backends.temporal.workflows import (
    ATTEMPT,
    RECORD,
    Fired,
    FireTarget,
    FireWorkflow,
    Recorded,
    RunJob,
    RunWorkflow,
    run_workflow_id,
)
from tests.support.temporal import task_queue

pytestmark = pytest.mark.temporal


class Script:
    """Activities with the real names and scripted answers: the workflows are under test here."""

    def __init__(self) -> None:
        self.attempts: list[bool] = []

    @activity.defn(name=RECORD)
    async def record(self, fired: Fired) -> Recorded:
        if fired.target.schedule_id == "nothing-to-run":
            return Recorded(None)
        return Recorded(RunJob(fired.target.tenant_id, f"run-{uuid.uuid4().hex[:8]}", 1.0, 0.5))

    @activity.defn(name=ATTEMPT)
    async def attempt(self, job: RunJob, lost: bool) -> str | None:
        self.attempts.append(lost)
        if len(self.attempts) == 1:  # a retry due in half a second
            now = activity.info().current_attempt_scheduled_time
            return (now + timedelta(seconds=0.5)).isoformat()
        if len(self.attempts) == 2:
            raise ApplicationError("the worker went away", non_retryable=True)
        return None


async def test_histories_from_every_branch_replay_in_the_sandbox(temporal_client: Client) -> None:
    queue = task_queue()
    script = Script()
    histories: list[WorkflowHistory] = []
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[FireWorkflow, RunWorkflow],
        activities=[script.record, script.attempt],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        for schedule_id in ("to-run", "nothing-to-run"):
            fire = await temporal_client.start_workflow(
                FireWorkflow.run,
                FireTarget("tenant-r", "install-r", schedule_id),
                id=f"fire-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
            )
            await asyncio.wait_for(fire.result(), 30)
            histories.append(await fire.fetch_history())
        started = [
            e
            for e in histories[0].events
            if e.HasField("start_child_workflow_execution_initiated_event_attributes")
        ]
        [child] = started
        child_id = child.start_child_workflow_execution_initiated_event_attributes.workflow_id
        run = temporal_client.get_workflow_handle(child_id)
        await asyncio.wait_for(run.result(), 30)
        histories.append(await run.fetch_history())
    assert script.attempts == [False, False, True]  # the try after the lost one takes back
    assert child_id.startswith(run_workflow_id("tenant-r", "run-"))

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayed = await Replayer(workflows=[FireWorkflow, RunWorkflow]).replay_workflows(
        each(), raise_on_replay_failure=False
    )
    assert dict(replayed.replay_failures) == {}
