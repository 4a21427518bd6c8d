"""Writing what runs came to: the run rows (fenced by their leases), their attempts, the last-run
fields of their schedules, and the schedules a run disables; then the run metrics."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.runs import Outcome
from extsched.metrics import Metrics
from extsched.services.sync import SyncService
from extsched.store.intent_repo import SyncTarget
from extsched.store.run_queue import RunQueue
from extsched.store.schedule_fleet import ScheduleFleet

log = logging.getLogger(__name__)

TOO_MANY_FAILURES = "too_many_failures"


class Settlement:
    def __init__(
        self, sync: SyncService, metrics: Metrics, *, auto_disable_after: int | None = None
    ) -> None:
        self.sync = sync
        self.metrics = metrics
        self.auto_disable_after = auto_disable_after

    async def write(
        self, conn: AsyncConnection, outcomes: Sequence[Outcome], owner: str | None, now: datetime
    ) -> list[Outcome]:
        """In the caller's transaction: the outcomes of runs whose lease is still ``owner``'s
        (each run's recorded owner when None), and what follows from the final ones. Returns
        those written; ``count`` them once the transaction committed."""
        written = await RunQueue(conn).write_outcomes(outcomes, owner, now)
        finals = [o for o in written if o.final]
        fleet = ScheduleFleet(conn)
        ran = [o for o in finals if o.status != "skipped"]  # skipped runs did not execute
        await fleet.note_results(ran, now)
        disable = {
            (o.run.tenant_id, o.run.schedule_id, o.run.install_id): o.disable_reason
            for o in finals
            if o.disable_reason
        }
        if self.auto_disable_after:
            failed = [o for o in ran if o.status != "success"]
            keys = [(o.run.tenant_id, o.run.schedule_id) for o in failed]
            worn = await fleet.failing_at_least(keys, self.auto_disable_after)
            for o in failed:
                if (o.run.tenant_id, o.run.schedule_id) in worn:
                    disable.setdefault(
                        (o.run.tenant_id, o.run.schedule_id, o.run.install_id), TOO_MANY_FAILURES
                    )
        for (tenant_id, schedule_id, install_id), reason in disable.items():
            if reason and await fleet.disable((tenant_id, schedule_id), reason, now):
                # Its backend entry pauses through the schedule's sync, like any change.
                await self.sync.stage(conn, SyncTarget(tenant_id, install_id, schedule_id), now)
                log.warning(
                    "schedule disabled",
                    extra={"tenant_id": tenant_id, "schedule_id": schedule_id, "reason": reason},
                )
        return written

    def count(self, outcomes: Sequence[Outcome]) -> None:
        for o in outcomes:
            if o.final:
                self.metrics.runs.labels(status=o.status, trigger=o.run.trigger).inc()
