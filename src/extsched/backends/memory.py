"""An in-memory JobRunner: the real contract, no persistence. For unit tests and simulations."""

from __future__ import annotations

from datetime import datetime

from extsched.backends.base import (
    KEY_PREFIX,
    BackendError,
    BackendSchedule,
    JobRunner,
    ScheduleSpec,
    State,
    TriggerRequest,
    state_of,
)
from extsched.clock import Clock, SystemClock
from extsched.domain.cron import occurrences


class MemoryJobRunner(JobRunner):
    name = "memory"

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.schedules: dict[str, tuple[ScheduleSpec, bool]] = {}
        self.triggered: list[tuple[str, TriggerRequest]] = []
        self.calls: list[tuple[str, str]] = []
        # Fail this many upcoming calls with BackendError, to exercise retries and reconciliation.
        self.fail_next = 0

    def _enter(self, op: str, key: str) -> None:
        self.calls.append((op, key))
        if self.fail_next > 0:
            self.fail_next -= 1
            raise BackendError(f"memory backend: injected failure on {op}")

    async def ping(self) -> None:
        self._enter("ping", "")

    async def ensure_schedule(self, key: str, spec: ScheduleSpec, *, paused: bool) -> None:
        self._enter("ensure", key)
        self.schedules[key] = (spec, paused)

    async def pause(self, key: str) -> None:
        self._enter("pause", key)
        spec, _ = self.schedules[key]
        self.schedules[key] = (spec, True)

    async def resume(self, key: str) -> None:
        self._enter("resume", key)
        spec, _ = self.schedules[key]
        self.schedules[key] = (spec, False)

    async def delete(self, key: str) -> None:
        self._enter("delete", key)
        self.schedules.pop(key, None)

    async def trigger(self, key: str, run: TriggerRequest) -> bool:
        self._enter("trigger", key)
        if any(r.run_id == run.run_id for _, r in self.triggered):
            return False
        self.triggered.append((key, run))
        return True

    async def describe(self, key: str) -> BackendSchedule | None:
        found = self.schedules.get(key)
        if found is None:
            return None
        spec, paused = found
        upcoming: list[datetime] = (
            [] if paused else occurrences(spec.cron, spec.timezone, self.clock.now(), 5)
        )
        return BackendSchedule(key, spec, paused, upcoming)

    async def snapshot(self, prefix: str = KEY_PREFIX) -> dict[str, State]:
        return {k: state_of(*v) for k, v in self.schedules.items() if k.startswith(prefix)}

    async def list_keys(self, prefix: str = KEY_PREFIX) -> list[str]:
        return sorted(k for k in self.schedules if k.startswith(prefix))
