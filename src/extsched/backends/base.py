"""The JobRunner interface: what fires schedules (SPEC §7.1).

The database is the source of truth; a backend holds a copy of each enabled schedule's timing,
keyed by a deterministic key, and is told about changes through sync intents applied after commit
(``services.sync``). Every method may be retried: each is idempotent as documented, so a retry
after a timeout or crash converges instead of duplicating.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.store.new_rows import NewRow

KEY_PREFIX = "extsched"


def schedule_key(tenant_id: str, install_id: str, schedule_id: str) -> str:
    """The deterministic backend key of a schedule: ``extsched:{tenant}:{install}:{schedule}``."""
    return f"{KEY_PREFIX}:{tenant_id}:{install_id}:{schedule_id}"


def parse_key(key: str) -> tuple[str, str, str]:
    prefix, tenant_id, install_id, schedule_id = key.split(":", 3)
    if prefix != KEY_PREFIX:
        raise ValueError(f"not a schedule key: {key}")
    return tenant_id, install_id, schedule_id


@dataclass(frozen=True)
class ScheduleSpec:
    """What a backend needs to fire a schedule."""

    cron: str
    timezone: str
    jitter_seconds: int
    data: dict[str, Any] = field(default_factory=dict)


def spec_for(
    tenant_id: str, install_id: str, schedule_id: str, cron: str, timezone: str, jitter: int
) -> ScheduleSpec:
    """The spec of one schedule, with the ids a backend hands back when it fires."""
    return ScheduleSpec(
        cron=cron,
        timezone=timezone,
        jitter_seconds=jitter,
        data={"tenant_id": tenant_id, "install_id": install_id, "schedule_id": schedule_id},
    )


class State(NamedTuple):
    """What reconciliation compares of a backend entry: a tuple underneath, so a hundred
    thousand of them stay small."""

    cron: str
    timezone: str
    jitter_seconds: int
    paused: bool

    @property
    def timing(self) -> tuple[str, str, int]:
        return (self.cron, self.timezone, self.jitter_seconds)


def state_of(spec: ScheduleSpec, paused: bool) -> State:
    return State(spec.cron, spec.timezone, spec.jitter_seconds, paused)


@dataclass(frozen=True)
class BackendSchedule:
    """What ``describe`` reports of one backend schedule."""

    key: str
    spec: ScheduleSpec
    paused: bool
    next_fire_times: list[datetime]


@dataclass(frozen=True)
class TriggerRequest:
    """A run-now: the run row already exists; the backend executes it once."""

    tenant_id: str
    run_id: str


class BackendError(Exception):
    """The backend failed or could not be reached; the caller retries later."""


class JobRunner(abc.ABC):
    """A scheduling backend. Implementations: memory (tests), embedded, temporal.

    A *transactional* backend keeps its state in the service's own database: the service then calls
    ``ensure_in``/``delete_in`` inside the transaction that changes the schedule row, so the two
    change together, and no sync intent is needed.
    """

    name: str = "abstract"
    transactional: ClassVar[bool] = False

    @abc.abstractmethod
    async def ensure_schedule(self, key: str, spec: ScheduleSpec, *, paused: bool) -> None:
        """Create or replace the schedule under ``key`` so it matches ``spec`` and ``paused``.

        Idempotent: calling it again with the same arguments changes nothing; with other
        arguments it updates in place (the key never changes). Raises BackendError.
        """

    @abc.abstractmethod
    async def pause(self, key: str) -> None:
        """Stop firing ``key`` until resumed; idempotent. Raises KeyError if it does not exist."""

    @abc.abstractmethod
    async def resume(self, key: str) -> None:
        """Fire ``key`` again from the next occurrence after now (no back-fill); idempotent.
        Raises KeyError if it does not exist."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key``; succeeds when it is already gone."""

    @abc.abstractmethod
    async def trigger(self, key: str, run: TriggerRequest) -> bool:
        """Execute the already-recorded run ``run`` of ``key`` once, when it is due. Idempotent per
        run id: True when this call handed the run over, False when it already had been (or
        when the backend's queue is the database itself, so there is nothing to hand over)."""

    @abc.abstractmethod
    async def describe(self, key: str) -> BackendSchedule | None:
        """The backend's view of ``key``, or None when it does not exist."""

    @abc.abstractmethod
    async def list_keys(self, prefix: str = KEY_PREFIX) -> list[str]:
        """Every key starting with ``prefix`` (for reconciliation), sorted."""

    async def close(self) -> None:  # noqa: B027 - optional hook with a do-nothing default
        """Release connections; the default has none."""

    async def ping(self) -> None:  # noqa: B027 - optional hook with a do-nothing default
        """Raise BackendError when the backend cannot be reached. The default (a backend inside
        this process or the service's own database) has nothing of its own to reach."""

    async def ensure_in(
        self,
        conn: AsyncConnection,
        key: str,
        spec: ScheduleSpec,
        *,
        paused: bool,
        now: datetime,
    ) -> None:
        """``ensure_schedule`` inside the caller's transaction (transactional backends only)."""
        raise NotImplementedError

    def entry_row(self, key: str, spec: ScheduleSpec, *, paused: bool, now: datetime) -> NewRow:
        """The entry of a schedule created in the caller's transaction, for the caller to insert
        together with the schedule's own row (transactional backends only)."""
        raise NotImplementedError

    async def delete_in(self, conn: AsyncConnection, key: str, *, now: datetime) -> None:
        """``delete`` inside the caller's transaction (transactional backends only)."""
        raise NotImplementedError

    def notify_changed(self) -> None:  # noqa: B027 - optional hook with a do-nothing default
        """Called after a transaction that used ``ensure_in``/``delete_in`` committed."""

    async def snapshot(self, prefix: str = KEY_PREFIX) -> dict[str, State]:
        """Every schedule under ``prefix`` as (cron, timezone, jitter, paused), for reconciliation.

        The default asks ``describe`` key by key; a backend that can answer in bulk should.
        """
        result: dict[str, State] = {}
        for key in await self.list_keys(prefix):
            found = await self.describe(key)
            if found is not None:
                result[key] = state_of(found.spec, found.paused)
        return result
