"""The Temporal JobRunner: one Temporal Schedule per extsched schedule.

The Temporal Schedule's id is the schedule's key (``extsched:{tenant}:{install}:{schedule}``); its
action starts ``FireWorkflow`` with the schedule's ids; its spec is the cron expression in the
schedule's zone with the jitter; overlap SKIP (a fire is open for its run's first attempt; the
occurrences SKIP passes over meanwhile are recorded by the next fire as overlaps, by
``domain.fires``) and the catch-up window from the settings. Temporal translates a cron
expression into calendar specs and does not give it back, so the spec extsched set is kept in the
schedule's note (``cron|zone|jitter``): the reconciler reads every schedule's state from one list.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.client import (
    ScheduleSpec as TemporalSpec,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from extsched.backends.base import (
    KEY_PREFIX,
    BackendError,
    BackendSchedule,
    JobRunner,
    ScheduleSpec,
    State,
    TriggerRequest,
    parse_key,
    spec_for,
)
from extsched.backends.temporal.workflows import (
    FireTarget,
    FireWorkflow,
    RunJob,
    RunWorkflow,
    run_workflow_id,
)
from extsched.domain.cron import next_occurrence

RPC_TIMEOUT = timedelta(seconds=10)


def nominal(spec: ScheduleSpec, fire_time: datetime) -> datetime:
    """The occurrence a fire time belongs to: Temporal reports times with their jitter added
    (less than the five minutes between two occurrences), extsched reports occurrences."""
    if not spec.jitter_seconds:
        return fire_time
    earliest = fire_time - timedelta(seconds=spec.jitter_seconds, microseconds=1)
    return next_occurrence(spec.cron, spec.timezone, earliest)


def note_of(spec: ScheduleSpec) -> str:
    return f"{spec.cron}|{spec.timezone}|{spec.jitter_seconds}"


def state_from_note(note: str | None, paused: bool) -> State | None:
    parts = (note or "").split("|")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return State(parts[0], parts[1], int(parts[2]), paused)


class TemporalJobRunner(JobRunner):
    name = "temporal"

    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        catchup_window: timedelta,
        call_timeout: timedelta,
        lease_ttl: timedelta,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.catchup_window = catchup_window
        self.call_timeout = call_timeout
        self.lease_ttl = lease_ttl

    def _schedule(self, key: str, spec: ScheduleSpec, paused: bool) -> Schedule:
        tenant_id, install_id, schedule_id = parse_key(key)
        return Schedule(
            action=ScheduleActionStartWorkflow(
                FireWorkflow.run,
                FireTarget(tenant_id, install_id, schedule_id),
                id=f"{key}:fire",
                task_queue=self.task_queue,
            ),
            spec=TemporalSpec(
                cron_expressions=[spec.cron],
                time_zone_name=spec.timezone,
                jitter=timedelta(seconds=spec.jitter_seconds) if spec.jitter_seconds else None,
            ),
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy.SKIP, catchup_window=self.catchup_window
            ),
            state=ScheduleState(note=note_of(spec), paused=paused),
        )

    async def ensure_schedule(self, key: str, spec: ScheduleSpec, *, paused: bool) -> None:
        wanted = self._schedule(key, spec, paused)
        try:
            try:
                await self.client.create_schedule(key, wanted, rpc_timeout=RPC_TIMEOUT)
                return
            except ScheduleAlreadyRunningError:
                pass

            async def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=wanted)

            await self._handle(key).update(replace, rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            raise BackendError(f"temporal: {exc.message}") from exc

    def _handle(self, key: str) -> ScheduleHandle:
        return self.client.get_schedule_handle(key)

    async def _described_spec(self, key: str) -> ScheduleSpec:
        found = await self.describe(key)
        if found is None:
            raise KeyError(key)
        return found.spec

    async def pause(self, key: str) -> None:
        spec = await self._described_spec(key)
        await self._call(self._handle(key).pause(note=note_of(spec), rpc_timeout=RPC_TIMEOUT))

    async def resume(self, key: str) -> None:
        spec = await self._described_spec(key)
        await self._call(self._handle(key).unpause(note=note_of(spec), rpc_timeout=RPC_TIMEOUT))

    async def delete(self, key: str) -> None:
        try:
            await self._handle(key).delete(rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise BackendError(f"temporal: {exc.message}") from exc

    async def trigger(self, key: str, run: TriggerRequest) -> bool:
        job = RunJob(
            run.tenant_id,
            run.run_id,
            self.call_timeout.total_seconds(),
            self.lease_ttl.total_seconds(),
        )
        try:
            await self.client.start_workflow(
                RunWorkflow.run,
                job,
                id=run_workflow_id(run.tenant_id, run.run_id),
                task_queue=self.task_queue,
                rpc_timeout=RPC_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            return False  # triggered before: the run has its workflow
        except RPCError as exc:
            raise BackendError(f"temporal: {exc.message}") from exc
        return True

    async def describe(self, key: str) -> BackendSchedule | None:
        try:
            found = await self._handle(key).describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise BackendError(f"temporal: {exc.message}") from exc
        paused = found.schedule.state.paused
        state = state_from_note(found.schedule.state.note, paused)
        if state is None:
            raise BackendError(f"temporal schedule {key} was not written by extsched")
        t, i, s = parse_key(key)
        spec = spec_for(t, i, s, state.cron, state.timezone, state.jitter_seconds)
        upcoming = [] if paused else [nominal(spec, t) for t in found.info.next_action_times[:5]]
        return BackendSchedule(key, spec, paused, upcoming)

    async def snapshot(self, prefix: str = KEY_PREFIX) -> dict[str, State]:
        result: dict[str, State] = {}
        try:
            async for listed in await self.client.list_schedules(rpc_timeout=RPC_TIMEOUT):
                if not listed.id.startswith(prefix) or listed.schedule is None:
                    continue
                st = listed.schedule.state
                state = state_from_note(st.note, st.paused)
                # Not written by extsched (or its note overwritten): the reconciler rewrites it.
                result[listed.id] = state or State("", "", -1, st.paused)
        except RPCError as exc:
            raise BackendError(f"temporal: {exc.message}") from exc
        return result

    async def list_keys(self, prefix: str = KEY_PREFIX) -> list[str]:
        return sorted(await self.snapshot(prefix))

    async def ping(self) -> None:
        try:
            healthy = await self.client.service_client.check_health(timeout=self.call_timeout)
        except RPCError as exc:
            raise BackendError(f"temporal: {exc.message}") from exc
        if not healthy:
            raise BackendError("temporal: the workflow service is not serving")

    @staticmethod
    async def _call(pending: Awaitable[None]) -> None:
        try:
            await pending
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise KeyError(str(exc)) from exc
            raise BackendError(f"temporal: {exc.message}") from exc
