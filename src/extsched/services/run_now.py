"""Run now (SPEC §5): one immediate run of a schedule, idempotent and rate limited per tenant."""

from __future__ import annotations

import math
from datetime import timedelta

from extsched.backends.base import JobRunner, TriggerRequest, schedule_key
from extsched.clock import Clock
from extsched.domain.records import Run
from extsched.domain.runs import new_run
from extsched.errors import (
    ExtensionDisabled,
    RateLimited,
    ScheduleNotFound,
    SchedulesPaused,
    StoreUnavailable,
    ValidationFailed,
)
from extsched.services import audit
from extsched.services.caller import Caller
from extsched.services.installs import resolve_install
from extsched.store.db import Database
from extsched.store.run_queue import RunQueue
from extsched.store.run_repo import RunRepo
from extsched.store.schedule_repo import ScheduleRepo
from extsched.store.tenant_repo import TenantRepo

RATE_LIMIT = 5
RATE_WINDOW = timedelta(seconds=60)
MAX_IDEMPOTENCY_KEY = 128


class RunNowService:
    def __init__(self, db: Database, clock: Clock, backend: JobRunner) -> None:
        self.db = db
        self.clock = clock
        self.backend = backend

    async def run_now(
        self,
        caller: Caller,
        extension_id: str,
        schedule_id: str,
        idempotency_key: str | None = None,
    ) -> tuple[Run, bool]:
        """The run and whether it was created now (False: an existing one was returned)."""
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise ValidationFailed(
                field_errors={"Idempotency-Key": f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"}
            )
        now = self.clock.now()
        async with self.db.transaction() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            schedule = await ScheduleRepo(conn).get(caller.tenant_id, schedule_id)
            if schedule is None or schedule.install_id != install.id:
                raise ScheduleNotFound(f"schedule {schedule_id} not found")
            # The tenant's row is locked before anything is judged: concurrent requests take
            # turns, so a repeat (same key, or a second click) finds the first one's run, and
            # the limit counts every run made before it.
            settings = await TenantRepo(conn).lock_settings(caller.tenant_id, now)
            runs = RunRepo(conn)
            key = f"{schedule.id}:run_now:{idempotency_key}" if idempotency_key else None
            existing = (
                await runs.find_by_key(caller.tenant_id, key)
                if key
                else await runs.active_run_now(caller.tenant_id, schedule.id)
            )
            if existing is not None:
                return existing, False
            if not install.enabled:
                raise ExtensionDisabled("the extension is disabled; enable it to run schedules")
            if settings.schedules_paused:
                raise SchedulesPaused("schedules are paused for this tenant (kill switch)")
            try:
                recent = await runs.run_now_since(caller.tenant_id, now - RATE_WINDOW)
            except StoreUnavailable as exc:  # the limiter fails closed
                raise RateLimited(
                    "run-now limit could not be checked", headers={"Retry-After": "5"}
                ) from exc
            if len(recent) >= RATE_LIMIT:
                retry = math.ceil((recent[-RATE_LIMIT] + RATE_WINDOW - now).total_seconds())
                raise RateLimited(
                    f"at most {RATE_LIMIT} run-now requests per tenant per minute",
                    headers={"Retry-After": str(max(1, retry))},
                )
            run = new_run(
                tenant_id=caller.tenant_id,
                schedule_id=schedule.id,
                install_id=install.id,
                trigger="run_now",
                scheduled_for=now,
                idempotency_key=key or "",
                status="queued",
                max_attempts=schedule.max_attempts,
                now=now,
            )
            if not key:
                run = run.changed(idempotency_key=f"{schedule.id}:run_now:{run.id}")
            if run.id not in await RunQueue(conn).insert_new([run]):
                raise AssertionError("a run-now key was taken while the tenant was locked")
            await audit.record(
                conn,
                caller,
                "schedule.run_now",
                "schedule",
                schedule.id,
                {"runId": run.id},
                now,
            )
        await self.backend.trigger(
            schedule_key(caller.tenant_id, install.id, schedule.id),
            TriggerRequest(tenant_id=caller.tenant_id, run_id=run.id),
        )
        return run, True
