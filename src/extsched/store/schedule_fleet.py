"""Schedules across tenants: what backends, the reconciler, metrics and operators read in bulk,
and the last-run fields that outcomes update. Every statement filters by tenant where it names
schedules, so Citus keeps to the shards it needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.paging import PageRequest
from extsched.domain.records import Schedule
from extsched.domain.runs import Outcome
from extsched.store.schedule_repo import to_schedule
from extsched.store.tables import tenant_extension_install as inst_t
from extsched.store.tables import tenant_extension_schedule as sched_t
from extsched.store.tables import tenant_extension_schedule_run as run_t
from extsched.store.tables import tenant_settings as settings_t
from extsched.store.types import UtcDateTime

ScheduleKey = tuple[str, str]  # (tenant_id, schedule id)


@dataclass(frozen=True)
class BackendEntry:
    """A schedule as its backend entry should be, with the three flags that decide whether it
    fires (``domain.runs.firing``)."""

    tenant_id: str
    install_id: str
    schedule_id: str
    cron: str
    timezone: str
    jitter_seconds: int
    enabled: bool
    install_enabled: bool
    tenant_paused: bool


@dataclass(frozen=True)
class FireFacts:
    install_id: str
    cron: str
    timezone: str
    since: datetime  # the last thing known to have happened to it: an occurrence or a change
    last_recorded: datetime | None  # its newest occurrence with a record


@dataclass(frozen=True)
class FlagCount:
    enabled: bool
    install_enabled: bool
    tenant_paused: bool
    schedules: int


def _with_install_and_tenant() -> Any:
    return sched_t.join(
        inst_t,
        (inst_t.c.tenant_id == sched_t.c.tenant_id) & (inst_t.c.id == sched_t.c.install_id),
        isouter=True,
    ).outerjoin(settings_t, settings_t.c.tenant_id == sched_t.c.tenant_id)


_INSTALL_ENABLED = sa.func.coalesce(inst_t.c.enabled, False)
_TENANT_PAUSED = sa.func.coalesce(settings_t.c.schedules_paused, False)


class ScheduleFleet:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def max_attempts(self, keys: Sequence[ScheduleKey]) -> dict[ScheduleKey, int]:
        """The retry budget of each schedule that still exists."""
        if not keys:
            return {}
        q = sa.select(sched_t.c.tenant_id, sched_t.c.id, sched_t.c.max_attempts).where(
            sched_t.c.tenant_id.in_({t for t, _ in keys}), sched_t.c.id.in_({s for _, s in keys})
        )
        return {(t, s): n for t, s, n in await self.conn.execute(q)}

    async def backend_entries(self, tenant_id: str | None = None) -> list[BackendEntry]:
        q = sa.select(
            sched_t.c.tenant_id,
            sched_t.c.install_id,
            sched_t.c.id,
            sched_t.c.cron,
            sched_t.c.timezone,
            sched_t.c.jitter_seconds,
            sched_t.c.enabled,
            _INSTALL_ENABLED,
            _TENANT_PAUSED,
        ).select_from(_with_install_and_tenant())
        if tenant_id is not None:
            q = q.where(sched_t.c.tenant_id == tenant_id)
        return [BackendEntry(*row) for row in await self.conn.execute(q)]

    async def count_by_flags(self) -> list[FlagCount]:
        flags = (sched_t.c.enabled, _INSTALL_ENABLED, _TENANT_PAUSED)
        q = (
            sa.select(*flags, sa.func.count())
            .select_from(_with_install_and_tenant())
            .group_by(*flags)
        )
        return [
            FlagCount(bool(e), bool(i), bool(p), int(n))
            for e, i, p, n in await self.conn.execute(q)
        ]

    async def fire_facts(self, keys: Sequence[ScheduleKey]) -> dict[ScheduleKey, FireFacts]:
        """What judging fires of these schedules needs; a schedule that is gone is left out."""
        if not keys:
            return {}
        last_occurrence = (
            sa.select(sa.func.max(run_t.c.scheduled_for))
            .where(
                run_t.c.tenant_id == sched_t.c.tenant_id,
                run_t.c.schedule_id == sched_t.c.id,
                run_t.c.trigger == "schedule",
            )
            .scalar_subquery()
        )
        q = (
            sa.select(
                sched_t.c.tenant_id,
                sched_t.c.id,
                sched_t.c.install_id,
                sched_t.c.cron,
                sched_t.c.timezone,
                sched_t.c.updated_at,
                inst_t.c.updated_at,
                settings_t.c.updated_at,
                last_occurrence,
            )
            .select_from(_with_install_and_tenant())
            .where(
                sched_t.c.tenant_id.in_({t for t, _ in keys}),
                sched_t.c.id.in_({s for _, s in keys}),
            )
        )
        wanted = set(keys)
        found = {}
        for tenant_id, schedule_id, install_id, cron, timezone, *times in await self.conn.execute(
            q
        ):
            if (tenant_id, schedule_id) not in wanted:
                continue
            known = [_utc(t) for t in times if t is not None]
            last = times[-1]
            found[(tenant_id, schedule_id)] = FireFacts(
                install_id, cron, timezone, max(known), _utc(last) if last is not None else None
            )
        return found

    async def count_using_endpoints(self, endpoint_ids: Sequence[str]) -> int:
        """Across tenants: schedules pointing at any of these endpoints (version delete guard)."""
        if not endpoint_ids:
            return 0
        q = (
            sa.select(sa.func.count())
            .select_from(sched_t)
            .where(sched_t.c.endpoint_id.in_(endpoint_ids))
        )
        return int((await self.conn.execute(q)).scalar_one())

    async def page(
        self, page: PageRequest, *, tenant_id: str | None = None, enabled: bool | None = None
    ) -> list[Schedule]:
        """Oldest first, up to ``limit + 1`` rows (operators' listing)."""
        q = sched_t.select()
        if tenant_id is not None:
            q = q.where(sched_t.c.tenant_id == tenant_id)
        if enabled is not None:
            q = q.where(sched_t.c.enabled == enabled)
        if page.after is not None:
            at, last_id = page.after
            q = q.where(
                (sched_t.c.created_at > at)
                | ((sched_t.c.created_at == at) & (sched_t.c.id > last_id))
            )
        q = q.order_by(sched_t.c.created_at, sched_t.c.id).limit(page.limit + 1)
        return [to_schedule(r) for r in await self.conn.execute(q)]

    # After runs ------------------------------------------------------------------------------

    async def note_results(self, ran: Sequence[Outcome], now: datetime) -> None:
        """Last-run fields of the schedules of runs that ended (skipped runs did not run)."""
        where = (
            sched_t.c.tenant_id == sa.bindparam("b_tenant"),
            sched_t.c.id == sa.bindparam("b_schedule"),
        )
        ok = [o for o in ran if o.status == "success"]
        failed = [o for o in ran if o.status != "success"]
        if ok:
            await self.conn.execute(
                sched_t.update()
                .where(*where)
                .values(
                    last_run_at=sa.bindparam("b_at", type_=UtcDateTime()),
                    last_run_status="success",
                    last_error=None,
                    last_success_at=sa.bindparam("b_done", type_=UtcDateTime()),
                    consecutive_failures=0,
                ),
                [_result_params(o, now) for o in ok],
            )
        if failed:
            await self.conn.execute(
                sched_t.update()
                .where(*where)
                .values(
                    last_run_at=sa.bindparam("b_at", type_=UtcDateTime()),
                    last_run_status=sa.bindparam("b_status"),
                    last_error=sa.bindparam("b_error"),
                    consecutive_failures=sched_t.c.consecutive_failures + 1,
                ),
                [_result_params(o, now) for o in failed],
            )

    async def failing_at_least(self, keys: Sequence[ScheduleKey], limit: int) -> set[ScheduleKey]:
        """Of these schedules, those that failed ``limit`` times or more in a row."""
        if not keys:
            return set()
        q = sa.select(sched_t.c.tenant_id, sched_t.c.id).where(
            sched_t.c.tenant_id.in_({t for t, _ in keys}),
            sched_t.c.id.in_({s for _, s in keys}),
            sched_t.c.consecutive_failures >= limit,
        )
        return {(t, s) for t, s in await self.conn.execute(q)}

    async def disable(self, key: ScheduleKey, reason: str, now: datetime) -> bool:
        """Disable an enabled schedule with a visible reason; False if it was not enabled."""
        result = await self.conn.execute(
            sched_t.update()
            .where(
                sched_t.c.tenant_id == key[0],
                sched_t.c.id == key[1],
                sched_t.c.enabled.is_(True),
            )
            .values(enabled=False, disabled_reason=reason, updated_at=now)
        )
        return bool(result.rowcount)


def _utc(value: Any) -> datetime:
    """A time read through an expression rather than a column comes back untyped on SQLite."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _result_params(o: Outcome, now: datetime) -> dict[str, Any]:
    return {
        "b_tenant": o.run.tenant_id,
        "b_schedule": o.run.schedule_id,
        "b_at": o.run.started_at or now,
        "b_done": o.finished_at or now,
        "b_status": o.status,
        "b_error": (o.error or o.status)[:4000],
    }
