"""Tenant shapes: settings and the audit log (SPEC §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from extsched.api.schemas.base import In, Wire
from extsched.domain.records import AuditEntry, TenantSettings


class SettingsIn(In):
    """Either field or both; pausing stops every schedule of the tenant (the kill switch)."""

    default_timezone: str | None = None
    schedules_paused: bool | None = None


class SettingsOut(Wire):
    default_timezone: str
    schedules_paused: bool

    @classmethod
    def of(cls, s: TenantSettings) -> SettingsOut:
        return cls(default_timezone=s.default_timezone, schedules_paused=s.schedules_paused)


class AuditOut(Wire):
    id: str
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, a: AuditEntry) -> AuditOut:
        return cls.model_construct(
            id=a.id,
            actor=a.actor,
            action=a.action,
            target_type=a.target_type,
            target_id=a.target_id,
            details=a.details,
            created_at=a.created_at,
        )


class AuditList(Wire):
    entries: list[AuditOut]
    next_cursor: str | None
