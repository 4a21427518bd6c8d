"""What the metrics endpoint reports beyond the counters: gauges read from the database."""

from __future__ import annotations

from collections import Counter

from extsched.backends.base import BackendError, JobRunner
from extsched.clock import Clock
from extsched.domain.runs import schedule_state
from extsched.loops import Supervisor
from extsched.metrics import Metrics
from extsched.store.db import Database
from extsched.store.run_repo import RunRepo
from extsched.store.schedule_fleet import ScheduleFleet

STATES = ("enabled", "disabled", "paused")


class Observer:
    def __init__(
        self, db: Database, backend: JobRunner, clock: Clock, metrics: Metrics, loops: Supervisor
    ) -> None:
        self.db = db
        self.backend = backend
        self.clock = clock
        self.metrics = metrics
        self.loops = loops

    async def readiness(self) -> dict[str, str]:
        """Each dependency of serving and firing: ``ok``, or what is wrong with it."""
        checks: dict[str, str] = {}
        try:
            await self.db.ping()
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports any failure rather than raising it
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            await self.backend.ping()
            checks["backend"] = "ok"
        except BackendError as exc:
            checks["backend"] = f"error: {exc}"
        for name in self.loops.tasks:
            reason = self.loops.down.get(name)
            checks[f"loop:{name}"] = "ok" if reason is None else f"down, restarting: {reason}"
        return checks

    async def render(self) -> bytes:
        """The Prometheus text, with the queue depth and schedules by state brought up to date."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            depth = await RunRepo(conn).queue_depth(now)
            flags = await ScheduleFleet(conn).count_by_flags()
        self.metrics.queue_depth.set(depth)
        states: Counter[str] = Counter()
        for f in flags:
            states[schedule_state(f.enabled, f.install_enabled, f.tenant_paused)] += f.schedules
        for name in STATES:
            self.metrics.schedules.labels(state=name).set(states[name])
        return self.metrics.render()
