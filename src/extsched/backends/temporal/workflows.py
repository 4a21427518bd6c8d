"""The workflows Temporal runs for extsched. Deterministic: no I/O, no clock but Temporal's, no
imports beyond the standard library and temporalio (the module is loaded into Temporal's sandbox).

``FireWorkflow`` is what each Temporal Schedule starts: one activity records the occurrence as a
run and makes its first attempt, so a fire costs Temporal one workflow and one activity, as any
scheduled call would. A run that is to be retried, or whose attempt was lost, goes on in its own
``RunWorkflow`` and the fire ends, so the next occurrence is held back at most by one call (the
occurrences Temporal passes over meanwhile are recorded by the next fire). ``RunWorkflow`` makes
a run's further attempts, sleeping on Temporal's durable timers in between; run-now starts one
directly. Its id derives from the run id, so a run is executed by one workflow however often it is
fired or triggered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
RECORD, ATTEMPT, FIRE = "extsched.record", "extsched.attempt", "extsched.fire"
QUICK = timedelta(seconds=60)
# A fire's activity is bounded by its call's own timeout; a worker that goes away meanwhile is
# noticed by the missing heartbeat, not by this.
FIRE_LIMIT = timedelta(hours=1)
HEARTBEAT = timedelta(seconds=30)
# Workflow version markers. From the first on, a fire makes its run's first attempt itself (a
# local activity records it, an activity makes the attempt); from the second, one activity does
# both. Fires begun by an earlier version finish on their own path.
FIRST_ATTEMPT_IN_FIRE = "first-attempt-in-fire"
ONE_ACTIVITY_PER_FIRE = "one-activity-per-fire"


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
class Later:
    """A run to look at again at ``at`` (RFC 3339). ``lost``: its attempt's worker went away
    (or the database did), so the try at ``at``, once the lease is over, takes the run back (the
    lost attempt recorded as abandoned)."""

    at: str
    lost: bool = False


@dataclass(frozen=True)
class RunJob:
    """A run to execute, with the time limits of its attempts. ``resume``: when its workflow is
    to make the next attempt (None: at once)."""

    tenant_id: str
    run_id: str
    call_timeout_seconds: float
    lease_ttl_seconds: float
    resume: Later | None = None


@dataclass(frozen=True)
class Recorded:
    """What a fire leaves to do. From ``RECORD``: the run to execute; from ``FIRE``: the run to go
    on with in a workflow of its own (``resume`` set). None: nothing (is left) to run."""

    job: RunJob | None


def run_workflow_id(tenant_id: str, run_id: str) -> str:
    return f"extsched-run:{tenant_id}:{run_id}"


async def _attempt(job: RunJob, lost: bool) -> Later | None:
    """One attempt of the run; when to look at it again, or None: it ended."""
    try:
        retry_at: str | None = await workflow.execute_activity(
            ATTEMPT,
            args=[job, lost],
            start_to_close_timeout=timedelta(seconds=job.call_timeout_seconds + 30),
            # The attempt is recorded by the run pipeline; Temporal must not repeat it.
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
    except ActivityError:
        lease_over = workflow.now() + timedelta(seconds=job.lease_ttl_seconds)
        return Later(lease_over.isoformat(), lost=True)
    return Later(retry_at) if retry_at else None


async def _fire(fired: Fired) -> RunJob | None:
    """The fire recorded and its run's first attempt made; the run to go on with, if any."""
    try:
        recorded: Recorded = await workflow.execute_activity(
            FIRE,
            fired,
            result_type=Recorded,
            start_to_close_timeout=FIRE_LIMIT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RetryPolicy(maximum_attempts=1),  # as an attempt: never repeated
        )
        return recorded.job
    except ActivityError:
        # The worker (or the database) went away mid-fire. Recording again finds whatever it
        # recorded or started; the run goes on as a lost attempt, taken back once its lease ends.
        recorded = await workflow.execute_local_activity(
            RECORD, fired, result_type=Recorded, start_to_close_timeout=QUICK
        )
        if recorded.job is None:
            return None
        return replace(recorded.job, resume=Later(workflow.now().isoformat(), lost=True))


async def _hand_over(job: RunJob) -> None:
    """The run goes on in its own workflow; the fire ends."""
    try:
        await workflow.start_child_workflow(
            RunWorkflow.run,
            job,
            id=run_workflow_id(job.tenant_id, job.run_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
    except WorkflowAlreadyStartedError:
        pass  # fired twice: the run already has its workflow


@workflow.defn(name="extsched.fire")
class FireWorkflow:
    @workflow.run
    async def run(self, target: FireTarget) -> None:
        at = workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        fired = Fired(target, at.isoformat())
        if workflow.patched(ONE_ACTIVITY_PER_FIRE):
            job = await _fire(fired)
            if job is not None:
                await _hand_over(job)
            return
        in_place = workflow.patched(FIRST_ATTEMPT_IN_FIRE)
        if in_place:
            recorded: Recorded = await workflow.execute_local_activity(
                RECORD, fired, result_type=Recorded, start_to_close_timeout=QUICK
            )
        else:  # a fire begun by a version that handed every run to its own workflow
            recorded = await workflow.execute_activity(
                RECORD, fired, result_type=Recorded, start_to_close_timeout=QUICK
            )
        job = recorded.job
        if job is None:
            return
        later: Later | None = None
        if in_place:
            later = await _attempt(job, lost=False)
            if later is None:
                return
        await _hand_over(replace(job, resume=later))


@workflow.defn(name="extsched.run")
class RunWorkflow:
    @workflow.run
    async def run(self, job: RunJob) -> None:
        later = job.resume
        while True:
            if later is not None:
                wait = datetime.fromisoformat(later.at) - workflow.now()
                if wait > timedelta(0):
                    await workflow.sleep(wait)
            later = await _attempt(job, lost=later is not None and later.lost)
            if later is None:
                return
