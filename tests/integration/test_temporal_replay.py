"""The workflows replay deterministically inside Temporal's sandbox, and so do the histories of
earlier versions.

The worker runs the workflows unsandboxed for speed; here histories they made on a real dev server,
through every branch (a fire with nothing left to run, a fire handing a retry to its run's
workflow, a fire whose worker went away, the run's workflow sleeping on a durable timer), are
replayed with the sandbox's restrictions, which fail on a clock read, randomness, I/O or a step
that differs from the history. Histories recorded by earlier versions (``histories/``) replay with
this one: fires in flight during an upgrade finish on their own path."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

from extsched.backends.temporal.workflows import (
    ATTEMPT,
    FIRE,
    HEARTBEAT,
    RECORD,
    Fired,
    FireTarget,
    FireWorkflow,
    Later,
    Recorded,
    RunJob,
    RunWorkflow,
    run_workflow_id,
)
from tests.support.temporal import task_queue

pytestmark = pytest.mark.temporal

HISTORIES = Path(__file__).parent / "histories"


class Script:
    """Activities with the real names and scripted answers: the workflows are under test here."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, bool]] = []
        self.recorded: list[str] = []

    def job(self, fired: Fired) -> RunJob:
        t = fired.target
        return RunJob(t.tenant_id, f"{t.schedule_id}-{uuid.uuid4().hex[:8]}", 1.0, 0.5)

    @activity.defn(name=FIRE)
    async def fire(self, fired: Fired) -> Recorded:
        match fired.target.schedule_id:
            case "nothing-to-run":
                return Recorded(None)
            case "to-retry":  # the first attempt failed; the retry is due in half a second
                at = activity.info().current_attempt_scheduled_time + timedelta(seconds=0.5)
                return Recorded(replace(self.job(fired), resume=Later(at.isoformat())))
            case _:
                raise ApplicationError("the worker went away", non_retryable=True)

    @activity.defn(name=RECORD)
    async def record(self, fired: Fired) -> Recorded:
        self.recorded.append(fired.target.schedule_id)
        return Recorded(self.job(fired))

    @activity.defn(name=ATTEMPT)
    async def attempt(self, job: RunJob, lost: bool) -> str | None:
        self.attempts.append((job.run_id.rsplit("-", 1)[0], lost))
        return None


def children(history: WorkflowHistory) -> list[str]:
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]


async def replay(histories: Iterable[WorkflowHistory]) -> dict[str, Exception]:
    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayed = await Replayer(workflows=[FireWorkflow, RunWorkflow]).replay_workflows(
        each(), raise_on_replay_failure=False
    )
    return dict(replayed.replay_failures)


async def test_histories_from_every_branch_replay_in_the_sandbox(temporal_client: Client) -> None:
    queue = task_queue()
    script = Script()
    histories: dict[str, WorkflowHistory] = {}
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[FireWorkflow, RunWorkflow],
        activities=[script.fire, script.record, script.attempt],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        for schedule_id in ("nothing-to-run", "to-retry", "worker-lost"):
            fire = await temporal_client.start_workflow(
                FireWorkflow.run,
                FireTarget("tenant-r", "install-r", schedule_id),
                id=f"fire-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
            )
            await asyncio.wait_for(fire.result(), 30)
            histories[schedule_id] = await fire.fetch_history()
            for child_id in children(histories[schedule_id]):
                run = temporal_client.get_workflow_handle(child_id)
                await asyncio.wait_for(run.result(), 30)
                histories[f"{schedule_id} run"] = await run.fetch_history()
    [scheduled] = [
        e.activity_task_scheduled_event_attributes
        for e in histories["nothing-to-run"].events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    # A worker that goes away mid-fire is noticed by the missing heartbeat, and the fire is
    # never repeated by Temporal (its run is recorded; the workflow records again instead).
    assert scheduled.activity_type.name == FIRE
    assert scheduled.heartbeat_timeout.ToTimedelta() == HEARTBEAT
    assert scheduled.retry_policy.maximum_attempts == 1
    assert children(histories["nothing-to-run"]) == []
    [retried] = children(histories["to-retry"])
    assert retried.startswith(run_workflow_id("tenant-r", "to-retry-"))
    # Only the fire whose worker went away records again, and its run's first try takes back.
    assert script.recorded == ["worker-lost"]
    assert script.attempts == [("to-retry", False), ("worker-lost", True)]
    assert set(histories) == {
        "nothing-to-run",
        "to-retry",
        "to-retry run",
        "worker-lost",
        "worker-lost run",
    }
    assert await replay(histories.values()) == {}


def test_histories_of_earlier_versions_replay_with_this_one() -> None:
    stored = sorted(HISTORIES.glob("*.json"))
    versions = {path.name.split("--")[0] for path in stored}
    assert versions == {"two-workflows-per-fire", "first-attempt-in-fire"}
    histories = []
    for path in stored:
        saved = json.loads(path.read_text())
        histories.append(WorkflowHistory.from_json(saved["workflow_id"], saved["history"]))
    assert len(histories) >= 6  # per version: a fire to run, one with nothing to run, the run
    assert asyncio.run(replay(histories)) == {}
