"""The reconciler (SPEC §7.1): make the backend match the database, and say what it changed.

Desired state comes from the database alone: every schedule has a backend entry with its cron, time
zone and jitter, paused unless it fires (``domain.runs.firing``). Entries the database does not
know are orphans and are deleted. Every unfinished run is handed to the backend (``trigger``, a
no-op for a run it already has), so runs queued under another backend, or whose execution was
lost, still run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from extsched.backends.base import (
    KEY_PREFIX,
    JobRunner,
    State,
    TriggerRequest,
    parse_key,
    schedule_key,
    spec_for,
)
from extsched.domain.runs import firing
from extsched.store.db import Database
from extsched.store.run_queue import RunQueue
from extsched.store.schedule_fleet import ScheduleFleet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    key: str
    action: str  # "create" | "update" | "pause" | "resume" | "delete" | "adopt"
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "action": self.action, "detail": self.detail}


class Reconciler:
    def __init__(self, db: Database, backend: JobRunner) -> None:
        self.db = db
        self.backend = backend

    async def desired(self, tenant_id: str | None = None) -> dict[str, State]:
        async with self.db.connect() as conn:
            entries = await ScheduleFleet(conn).backend_entries(tenant_id)
        return {
            schedule_key(e.tenant_id, e.install_id, e.schedule_id): State(
                e.cron,
                e.timezone,
                e.jitter_seconds,
                not firing(e.enabled, e.install_enabled, e.tenant_paused),
            )
            for e in entries
        }

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
                t, i, s = parse_key(key)
                spec = spec_for(t, i, s, want.cron, want.timezone, want.jitter_seconds)
                await self.backend.ensure_schedule(key, spec, paused=want.paused)
        if not dry_run:  # whether the backend has a run is known only by handing it over
            changes += await self._adopt(tenant_id)
        for c in changes:
            log.info(
                "reconcile %s %s: %s%s", c.action, c.key, c.detail, " (dry run)" if dry_run else ""
            )
        return changes

    async def _adopt(self, tenant_id: str | None) -> list[Change]:
        async with self.db.connect() as conn:
            runs = await RunQueue(conn).unfinished(tenant_id)
        adopted = []
        for r in runs:
            key = schedule_key(r.tenant_id, r.install_id, r.schedule_id)
            if await self.backend.trigger(key, TriggerRequest(r.tenant_id, r.run_id)):
                adopted.append(Change(key, "adopt", f"run {r.run_id} had no execution"))
        return adopted

    @staticmethod
    def _compare(key: str, want: State, have: State | None) -> Change | None:
        if have is None:
            suffix = " (paused)" if want.paused else ""
            return Change(key, "create", "missing from the backend" + suffix)
        if have.timing != want.timing:
            return Change(key, "update", f"backend has {have.timing}, database says {want.timing}")
        if have.paused != want.paused:
            return Change(key, "pause" if want.paused else "resume", "paused state differs")
        return None
