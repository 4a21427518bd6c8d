"""The embedded JobRunner: schedule timing kept in ``extsched_embedded_schedule``."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.backends.base import (
    KEY_PREFIX,
    BackendSchedule,
    JobRunner,
    ScheduleSpec,
    State,
    TriggerRequest,
    parse_key,
    schedule_key,
    spec_for,
)
from extsched.backends.embedded.timing import jitter_offset
from extsched.backends.ports import RunPort
from extsched.clock import Clock
from extsched.domain.cron import iter_occurrences, next_occurrence
from extsched.store.db import Database
from extsched.store.new_rows import NewRow, insert_rows
from extsched.store.tables import embedded_schedule as emb_t


class EmbeddedJobRunner(JobRunner):
    name = "embedded"
    transactional = True

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        # Set on every change so a sleeping dispatcher or worker in this process wakes at once.
        self.schedules_changed = asyncio.Event()
        self.runs_waiting = asyncio.Event()
        self._port: RunPort | None = None

    def _where(self, key: str) -> tuple[Any, ...]:
        tenant_id, _, schedule_id = parse_key(key)
        return (emb_t.c.tenant_id == tenant_id, emb_t.c.schedule_id == schedule_id)

    def _next(self, spec: ScheduleSpec, schedule_id: str, after: datetime) -> dict[str, Any]:
        nxt = next_occurrence(spec.cron, spec.timezone, after)
        return {
            "next_fire_for": nxt,
            "fire_at": nxt + jitter_offset(schedule_id, nxt, spec.jitter_seconds),
        }

    def attach(self, port: RunPort) -> None:
        """The run pipeline, for the runs this backend's changes cancel (composition root)."""
        self._port = port

    @property
    def port(self) -> RunPort:
        if self._port is None:
            raise RuntimeError("the embedded backend has no run pipeline attached")
        return self._port

    async def ensure_schedule(self, key: str, spec: ScheduleSpec, *, paused: bool) -> None:
        async with self.db.transaction() as conn:
            await self.ensure_in(conn, key, spec, paused=paused, now=self.clock.now())
        self.notify_changed()

    async def ensure_in(
        self,
        conn: AsyncConnection,
        key: str,
        spec: ScheduleSpec,
        *,
        paused: bool,
        now: datetime,
    ) -> None:
        tenant_id, install_id, schedule_id = parse_key(key)
        row = (await conn.execute(emb_t.select().where(*self._where(key)))).first()
        if row is None:
            await insert_rows(conn, [self.entry_row(key, spec, paused=paused, now=now)])
            return
        values: dict[str, Any] = {
            "install_id": install_id,
            "cron": spec.cron,
            "timezone": spec.timezone,
            "jitter_seconds": spec.jitter_seconds,
            "paused": paused,
            "updated_at": now,
        }
        retimed = (
            paused
            or row.paused
            or row.next_fire_for is None
            or (row.cron, row.timezone, row.jitter_seconds)
            != (spec.cron, spec.timezone, spec.jitter_seconds)
        )
        # A run dispatched ahead for an occurrence that has not come yet is superseded by the
        # change; its occurrence never fired, so it may come again under the new timing.
        if retimed and await self.port.cancel_ahead(conn, tenant_id, schedule_id, now):
            values["last_fired_for"] = min(row.last_fired_for, now) if row.last_fired_for else None
        if paused:
            values.update(next_fire_for=None, fire_at=None)
        elif retimed:
            # Never again an occurrence that already fired, never a back-fill.
            last = values.get("last_fired_for", row.last_fired_for)
            values.update(self._next(spec, schedule_id, max(now, last) if last else now))
        if any(getattr(row, k) != v for k, v in values.items() if k != "updated_at"):
            await conn.execute(emb_t.update().where(*self._where(key)).values(**values))

    def entry_row(self, key: str, spec: ScheduleSpec, *, paused: bool, now: datetime) -> NewRow:
        tenant_id, install_id, schedule_id = parse_key(key)
        timing: dict[str, Any] = {"next_fire_for": None, "fire_at": None}
        if not paused:
            timing = self._next(spec, schedule_id, now)
        return NewRow(
            emb_t,
            {
                "tenant_id": tenant_id,
                "schedule_id": schedule_id,
                "install_id": install_id,
                "cron": spec.cron,
                "timezone": spec.timezone,
                "jitter_seconds": spec.jitter_seconds,
                "paused": paused,
                "last_fired_for": None,
                **timing,
                "updated_at": now,
            },
        )

    async def delete_in(self, conn: AsyncConnection, key: str, *, now: datetime) -> None:
        tenant_id, _, schedule_id = parse_key(key)
        await self.port.cancel_ahead(conn, tenant_id, schedule_id, now)
        await conn.execute(emb_t.delete().where(*self._where(key)))

    def notify_changed(self) -> None:
        self.schedules_changed.set()

    async def _require(self, key: str) -> Any:
        async with self.db.connect() as conn:
            row = (await conn.execute(emb_t.select().where(*self._where(key)))).first()
        if row is None:
            raise KeyError(key)
        return row

    async def pause(self, key: str) -> None:
        row = await self._require(key)
        await self.ensure_schedule(key, _spec(row), paused=True)

    async def resume(self, key: str) -> None:
        row = await self._require(key)
        await self.ensure_schedule(key, _spec(row), paused=False)

    async def delete(self, key: str) -> None:
        async with self.db.transaction() as conn:
            await self.delete_in(conn, key, now=self.clock.now())
        self.notify_changed()

    async def trigger(self, key: str, run: TriggerRequest) -> bool:
        # The run row is already queued in this database; the worker only needs waking.
        self.runs_waiting.set()
        return False

    async def describe(self, key: str) -> BackendSchedule | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(emb_t.select().where(*self._where(key)))).first()
        if row is None:
            return None
        upcoming: list[datetime] = []
        if not row.paused and row.next_fire_for is not None:
            rest = iter_occurrences(row.cron, row.timezone, row.next_fire_for)
            upcoming = [row.next_fire_for, *itertools.islice(rest, 4)]
            last = row.last_fired_for
            if last is not None and last > self.clock.now():  # dispatched ahead, still to come
                upcoming = [last, *upcoming[:4]]
        return BackendSchedule(key, _spec(row), row.paused, upcoming)

    async def snapshot(self, prefix: str = KEY_PREFIX) -> dict[str, State]:
        q = sa.select(
            emb_t.c.tenant_id,
            emb_t.c.install_id,
            emb_t.c.schedule_id,
            emb_t.c.cron,
            emb_t.c.timezone,
            emb_t.c.jitter_seconds,
            emb_t.c.paused,
        )
        result: dict[str, State] = {}
        async with self.db.connect() as conn:
            for t, i, s, cron, tz, jitter, paused in await conn.execute(q):
                key = schedule_key(t, i, s)
                if key.startswith(prefix):
                    result[key] = State(cron, tz, jitter, paused)
        return result

    async def list_keys(self, prefix: str = KEY_PREFIX) -> list[str]:
        async with self.db.connect() as conn:
            rows = await conn.execute(
                sa.select(emb_t.c.tenant_id, emb_t.c.install_id, emb_t.c.schedule_id)
            )
            keys = [schedule_key(t, i, s) for t, i, s in rows]
        return sorted(k for k in keys if k.startswith(prefix))


def _spec(row: Any) -> ScheduleSpec:
    return spec_for(
        row.tenant_id, row.install_id, row.schedule_id, row.cron, row.timezone, row.jitter_seconds
    )
