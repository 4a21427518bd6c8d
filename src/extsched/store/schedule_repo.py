"""Schedules, their runs and their sync intents. Every method takes ``tenant_id``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.paging import PageRequest
from extsched.domain.records import Run, Schedule
from extsched.errors import NameTaken
from extsched.store.new_rows import NewRow, insert_rows
from extsched.store.tables import tenant_extension_run_attempt as attempt_t
from extsched.store.tables import tenant_extension_schedule as sched_t
from extsched.store.tables import tenant_extension_schedule_run as run_t
from extsched.store.unique import unique_outcomes

NAME_UNIQUE = "uq_tenant_extension_schedule_tenant_id_install_id_name"

_SCHEDULE_FIELDS = [f.name for f in fields(Schedule)]
_RUN_FIELDS = [f.name for f in fields(Run)]


_IN_INSTALL = sched_t.c.install_id == sa.bindparam("b_install")
_COUNTS = sa.select(
    sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((_IN_INSTALL, 1), else_=0)), 0)
).where(sched_t.c.tenant_id == sa.bindparam("b_tenant"))


def name_taken(name: str) -> NameTaken:
    message = f"a schedule named '{name}' already exists for this extension"
    return NameTaken(message, field_errors={"name": message})


@dataclass(frozen=True)
class Occupancy:
    tenant_schedules: int
    install_schedules: int


def schedule_row(schedule: Schedule) -> NewRow:
    taken = {NAME_UNIQUE: lambda: name_taken(schedule.name or "")}
    return NewRow(sched_t, schedule.__dict__, taken)


def to_schedule(row: Any) -> Schedule:
    m = row._mapping
    return Schedule(**{name: m[name] for name in _SCHEDULE_FIELDS})


def to_run(row: Any) -> Run:
    m = row._mapping
    return Run(**{name: m[name] for name in _RUN_FIELDS})


class ScheduleRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert(self, schedule: Schedule, *with_rows: NewRow) -> Occupancy:
        """The schedule's row and ``with_rows`` (its backend entry, its audit entry), in one
        statement where the database allows; returns the tenant's and the install's schedules
        before this one, to be judged by the caller (whose raise rolls the insert back). Counted
        after the caller took the tenant's lock, they miss no concurrent create. NameTaken when
        the install has a schedule of that name already."""
        params = {"b_tenant": schedule.tenant_id, "b_install": schedule.install_id}
        rows = [schedule_row(schedule), *with_rows]
        [counts] = await insert_rows(self.conn, rows, _COUNTS, params)
        return Occupancy(int(counts[0]), int(counts[1]))

    async def get(self, tenant_id: str, schedule_id: str, *, lock: bool = False) -> Schedule | None:
        q = sched_t.select().where(sched_t.c.tenant_id == tenant_id, sched_t.c.id == schedule_id)
        if lock:
            q = q.with_for_update()
        row = (await self.conn.execute(q)).first()
        return to_schedule(row) if row else None

    async def list_for_install(
        self,
        tenant_id: str,
        install_id: str,
        *,
        page: PageRequest | None = None,
        enabled: bool | None = None,
        status: str | None = None,
        lock: bool = False,
    ) -> list[Schedule]:
        """Oldest first; with a page, up to ``limit + 1`` rows so the caller can tell if more exist."""
        q = sched_t.select().where(
            sched_t.c.tenant_id == tenant_id, sched_t.c.install_id == install_id
        )
        if enabled is not None:
            q = q.where(sched_t.c.enabled == enabled)
        if status is not None:
            q = q.where(sched_t.c.last_run_status == status)
        if page is not None and page.after is not None:
            at, last_id = page.after
            q = q.where(
                (sched_t.c.created_at > at)
                | ((sched_t.c.created_at == at) & (sched_t.c.id > last_id))
            )
        q = q.order_by(sched_t.c.created_at, sched_t.c.id)
        if page is not None:
            q = q.limit(page.limit + 1)
        if lock:
            q = q.with_for_update()
        return [to_schedule(r) for r in await self.conn.execute(q)]

    async def list_for_tenant(self, tenant_id: str) -> list[Schedule]:
        q = sched_t.select().where(sched_t.c.tenant_id == tenant_id).order_by(sched_t.c.id)
        return [to_schedule(r) for r in await self.conn.execute(q)]

    async def occupancy(self, tenant_id: str, install_id: str) -> Occupancy:
        """The tenant's and the install's schedule counts."""
        params = {"b_tenant": tenant_id, "b_install": install_id}
        tenant, install = (await self.conn.execute(_COUNTS, params)).one()
        return Occupancy(int(tenant), int(install))

    async def name_taken(
        self, tenant_id: str, install_id: str, name: str, except_id: str | None = None
    ) -> bool:
        q = sa.select(sched_t.c.id).where(
            sched_t.c.tenant_id == tenant_id,
            sched_t.c.install_id == install_id,
            sched_t.c.name == name,
        )
        if except_id is not None:
            q = q.where(sched_t.c.id != except_id)
        return (await self.conn.execute(q)).first() is not None

    async def update(
        self, tenant_id: str, schedule_id: str, *, revision: int, now: datetime, **changes: Any
    ) -> bool:
        """Compare-and-set on ``revision``; bumps it. False when the row moved on meanwhile;
        NameTaken when a new name is another schedule's."""
        taken = {NAME_UNIQUE: lambda: name_taken(str(changes.get("name") or ""))}
        with unique_outcomes(sched_t, taken):
            result = await self.conn.execute(
                sched_t.update()
                .where(
                    sched_t.c.tenant_id == tenant_id,
                    sched_t.c.id == schedule_id,
                    sched_t.c.revision == revision,
                )
                .values(**changes, updated_at=now, revision=revision + 1)
            )
        return result.rowcount == 1

    async def delete(self, tenant_id: str, schedule_id: str) -> None:
        await self.conn.execute(
            sched_t.delete().where(sched_t.c.tenant_id == tenant_id, sched_t.c.id == schedule_id)
        )

    async def delete_tenant(self, tenant_id: str) -> None:
        await self.conn.execute(sched_t.delete().where(sched_t.c.tenant_id == tenant_id))

    async def delete_for_install(self, tenant_id: str, install_id: str) -> None:
        await self.conn.execute(
            sched_t.delete().where(
                sched_t.c.tenant_id == tenant_id, sched_t.c.install_id == install_id
            )
        )

    # Runs ------------------------------------------------------------------------------------

    async def list_runs(self, tenant_id: str, schedule_id: str, page: PageRequest) -> list[Run]:
        """Newest first by scheduled time; up to ``limit + 1`` rows."""
        q = run_t.select().where(run_t.c.tenant_id == tenant_id, run_t.c.schedule_id == schedule_id)
        if page.after is not None:
            at, last_id = page.after
            q = q.where(
                (run_t.c.scheduled_for < at)
                | ((run_t.c.scheduled_for == at) & (run_t.c.id < last_id))
            )
        q = q.order_by(run_t.c.scheduled_for.desc(), run_t.c.id.desc()).limit(page.limit + 1)
        return [to_run(r) for r in await self.conn.execute(q)]

    async def delete_runs(self, tenant_id: str, schedule_id: str) -> None:
        """The schedule's runs and their attempts."""
        await self.conn.execute(
            attempt_t.delete().where(
                attempt_t.c.tenant_id == tenant_id, attempt_t.c.schedule_id == schedule_id
            )
        )
        await self.conn.execute(
            run_t.delete().where(run_t.c.tenant_id == tenant_id, run_t.c.schedule_id == schedule_id)
        )
