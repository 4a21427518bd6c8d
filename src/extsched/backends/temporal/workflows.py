"""The workflows Temporal runs for extsched. Deterministic: no I/O, no clock but Temporal's, no
imports beyond the standard library and temporalio (the module is loaded into Temporal's sandbox).

``FireWorkflow`` is what each Temporal Schedule starts: it has the occurrence recorded as a run and
hands the run to its own ``RunWorkflow``, then ends at once, so the next occurrence is never held
back by a long call or a retry (the overlap rule is extsched's, applied when the run is recorded).
``RunWorkflow`` makes the run's attempts, sleeping on Temporal's durable timers between retries;
run-now starts one directly. Its id derives from the run id, so a run is executed by one workflow
however often it is fired or triggered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
RECORD, ATTEMPT = "extsched.record", "extsched.attempt"
QUICK = timedelta(seconds=60)


@dataclass(frozen=True)
class FireTarget:
    """The schedule a Temporal Schedule fires (its action's argument)."""

    tenant_id: str
    install_id: str
    schedule_id: str


@dataclass(frozen=True)
class Fired:
    target: FireTarget
    scheduled_for: str  # RFC 3339, the occurrence Temporal fired


@dataclass(frozen=True)
class RunJob:
    """A run to execute, with the time limits of its attempts."""

    tenant_id: str
    run_id: str
    call_timeout_seconds: float
    lease_ttl_seconds: float


@dataclass(frozen=True)
class Recorded:
    job: RunJob | None  # None: the fire was recorded, and nothing is to run


def run_workflow_id(tenant_id: str, run_id: str) -> str:
    return f"extsched-run:{tenant_id}:{run_id}"


@workflow.defn(name="extsched.fire")
class FireWorkflow:
    @workflow.run
    async def run(self, target: FireTarget) -> None:
        at = workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        recorded: Recorded = await workflow.execute_activity(
            RECORD,
            Fired(target, at.isoformat()),
            result_type=Recorded,
            start_to_close_timeout=QUICK,
        )
        job = recorded.job
        if job is None:
            return
        try:
            await workflow.start_child_workflow(
                RunWorkflow.run,
                job,
                id=run_workflow_id(job.tenant_id, job.run_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            pass  # fired twice: the run already has its workflow


@workflow.defn(name="extsched.run")
class RunWorkflow:
    @workflow.run
    async def run(self, job: RunJob) -> None:
        call = timedelta(seconds=job.call_timeout_seconds)
        lease = timedelta(seconds=job.lease_ttl_seconds)
        lost = False
        while True:
            try:
                retry_at: str | None = await workflow.execute_activity(
                    ATTEMPT,
                    args=[job, lost],
                    start_to_close_timeout=call + timedelta(seconds=30),
                    # The attempt is recorded by the run pipeline; Temporal must not repeat it.
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )
            except ActivityError:
                # The attempt's worker went away (or the database did): the next try, once the
                # lease has run out, takes the run back (the attempt recorded as abandoned).
                await workflow.sleep(lease)
                lost = True
                continue
            if not retry_at:
                return
            wait = datetime.fromisoformat(retry_at) - workflow.now()
            if wait > timedelta(0):
                await workflow.sleep(wait)
