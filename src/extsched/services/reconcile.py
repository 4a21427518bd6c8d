"""The reconciler (SPEC §7.1): make the backend match the database, and say what it changed.

Desired state comes from the database alone: every schedule has a backend entry with its cron, time
zone and jitter, paused unless the schedule, its install and its tenant all allow firing. Entries
the database does not know are orphans and are deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from extsched.backends.base import KEY_PREFIX, JobRunner, State, parse_key, schedule_key, spec_for
from extsched.store.db import Database
from extsched.store.tables import tenant_extension_install as inst_t
from extsched.store.tables import tenant_extension_schedule as sched_t
from extsched.store.tables import tenant_settings as settings_t

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    key: str
    action: str  # "create" | "update" | "pause" | "resume" | "delete"
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "action": self.action, "detail": self.detail}


class Reconciler:
    def __init__(self, db: Database, backend: JobRunner) -> None:
        self.db = db
        self.backend = backend

    async def desired(self, tenant_id: str | None = None) -> dict[str, State]:
        firing = (
            sched_t.c.enabled
            & inst_t.c.enabled
            & sa.not_(sa.func.coalesce(settings_t.c.schedules_paused, False))
        )
        q = sa.select(
            sched_t.c.tenant_id,
            sched_t.c.install_id,
            sched_t.c.id,
            sched_t.c.cron,
            sched_t.c.timezone,
            sched_t.c.jitter_seconds,
            sa.func.coalesce(firing, False).label("firing"),
        ).select_from(
            sched_t.outerjoin(
                inst_t,
                (inst_t.c.tenant_id == sched_t.c.tenant_id) & (inst_t.c.id == sched_t.c.install_id),
            ).outerjoin(settings_t, settings_t.c.tenant_id == sched_t.c.tenant_id)
        )
        if tenant_id is not None:
            q = q.where(sched_t.c.tenant_id == tenant_id)
        result: dict[str, State] = {}
        async with self.db.connect() as conn:
            for t, i, s, cron, tz, jitter, fires in await conn.execute(q):
                result[schedule_key(t, i, s)] = (cron, tz, jitter, not fires)
        return result

    async def run(self, *, dry_run: bool = False, tenant_id: str | None = None) -> list[Change]:
        desired = await self.desired(tenant_id)
        prefix = f"{KEY_PREFIX}:{tenant_id}:" if tenant_id else KEY_PREFIX
        actual = await self.backend.snapshot(prefix)
        changes: list[Change] = []
        for key in sorted(actual.keys() - desired.keys()):
            changes.append(Change(key, "delete", "no such schedule in the database"))
            if not dry_run:
                await self.backend.delete(key)
        for key, want in sorted(desired.items()):
            change = self._compare(key, want, actual.get(key))
            if change is None:
                continue
            changes.append(change)
            if not dry_run:
                cron, tz, jitter, paused = want
                t, i, s = parse_key(key)
                await self.backend.ensure_schedule(
                    key, spec_for(t, i, s, cron, tz, jitter), paused=paused
                )
        for c in changes:
            log.info(
                "reconcile %s %s: %s%s", c.action, c.key, c.detail, " (dry run)" if dry_run else ""
            )
        return changes

    @staticmethod
    def _compare(key: str, want: State, have: State | None) -> Change | None:
        if have is None:
            suffix = " (paused)" if want[3] else ""
            return Change(key, "create", "missing from the backend" + suffix)
        if have[:3] != want[:3]:
            return Change(key, "update", f"backend has {have[:3]}, database says {want[:3]}")
        if have[3] != want[3]:
            return Change(key, "pause" if want[3] else "resume", "paused state differs")
        return None
