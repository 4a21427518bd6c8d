"""Platform operators' shapes: schedules across tenants, kill switch, reconcile."""

from __future__ import annotations

from datetime import datetime

from extsched.api.schemas.base import In, Wire
from extsched.domain.records import Schedule


class AdminScheduleOut(Wire):
    tenant_id: str
    id: str
    install_id: str
    endpoint_id: str
    name: str | None
    cron: str
    timezone: str
    enabled: bool
    disabled_reason: str | None
    last_run_at: datetime | None
    last_run_status: str | None
    consecutive_failures: int
    created_at: datetime

    @classmethod
    def of(cls, s: Schedule) -> AdminScheduleOut:
        return cls(
            tenant_id=s.tenant_id,
            id=s.id,
            install_id=s.install_id,
            endpoint_id=s.endpoint_id,
            name=s.name,
            cron=s.cron,
            timezone=s.timezone,
            enabled=s.enabled,
            disabled_reason=s.disabled_reason,
            last_run_at=s.last_run_at,
            last_run_status=s.last_run_status,
            consecutive_failures=s.consecutive_failures,
            created_at=s.created_at,
        )


class AdminScheduleList(Wire):
    schedules: list[AdminScheduleOut]
    next_cursor: str | None


class KillSwitchIn(In):
    schedules_paused: bool


class ReconcileIn(In):
    dry_run: bool = False
    tenant_id: str | None = None


class ChangeOut(Wire):
    key: str
    action: str
    detail: str


class ReconcileOut(Wire):
    dry_run: bool
    changes: list[ChangeOut]
