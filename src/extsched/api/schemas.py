"""Request and response shapes: camelCase on the wire, times in RFC 3339 UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from pydantic.alias_generators import to_camel

from extsched.domain.cron import describe
from extsched.domain.records import (
    AuditEntry,
    Extension,
    Run,
    Schedule,
    TenantSettings,
    Version,
)
from extsched.domain.remap import RemapPlan
from extsched.services.installs import EndpointView, InstallView
from extsched.services.schedules import Preview, ScheduleView


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


class Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Out(Wire):
    @field_serializer("*", when_used="json")
    def _times(self, value: Any) -> Any:
        return rfc3339(value) if isinstance(value, datetime) else value


# Registry ------------------------------------------------------------------------------------


class ExtensionIn(Wire):
    publisher: str
    name: str
    display_name: str | None = None
    description: str | None = None


class ExtensionOut(Out):
    id: str
    publisher: str
    name: str
    slug: str
    display_name: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: Extension) -> ExtensionOut:
        return cls(
            id=e.id,
            publisher=e.publisher,
            name=e.name,
            slug=e.slug,
            display_name=e.display_name,
            description=e.description,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


class ExtensionList(Wire):
    extensions: list[ExtensionOut]


class VersionIn(Wire):
    version: str
    content_hash: str
    runtime: str | None = None
    manifest: dict[str, Any]


class EndpointOut(Wire):
    id: str
    method: str
    path: str
    handler: str
    schedulable: bool
    reason: str | None

    @classmethod
    def of(cls, v: EndpointView) -> EndpointOut:
        e = v.endpoint
        return cls(
            id=e.id,
            method=e.method,
            path=e.path,
            handler=e.handler,
            schedulable=v.schedulable,
            reason=v.reason,
        )


class EndpointList(Wire):
    endpoints: list[EndpointOut]


class VersionOut(Out):
    id: str
    registry_id: str
    version: str
    runtime: str | None
    content_hash: str
    capabilities: list[str]
    created_at: datetime
    endpoints: list[EndpointOut]

    @classmethod
    def of(cls, v: Version, endpoints: list[EndpointView]) -> VersionOut:
        return cls(
            id=v.id,
            registry_id=v.registry_id,
            version=v.version,
            runtime=v.runtime,
            content_hash=v.content_hash,
            capabilities=v.capabilities,
            created_at=v.created_at,
            endpoints=[EndpointOut.of(e) for e in endpoints],
        )


class VersionList(Wire):
    versions: list[VersionOut]


# Installs ------------------------------------------------------------------------------------


class InstallIn(Wire):
    registry_id: str
    version: str
    config: dict[str, str] | None = None
    granted_caps: list[str] | None = None


class ConfigIn(Wire):
    config: dict[str, str] | None = None
    granted_caps: list[str] | None = None


class SecretsIn(Wire):
    secrets: dict[str, str]


class UninstallIn(Wire):
    registry_id: str


class UpdateIn(Wire):
    registry_id: str
    version: str
    disable_missing_schedules: bool = False


class RemappedOut(Wire):
    schedule_id: str
    name: str | None
    method: str | None
    path: str | None
    from_endpoint_id: str
    to_endpoint_id: str | None


class MissingOut(Wire):
    schedule_id: str
    name: str | None
    method: str | None
    path: str | None


class UpdatePreviewOut(Wire):
    blocked: bool
    remapped: list[RemappedOut]
    missing: list[MissingOut]

    @classmethod
    def of(cls, plan: RemapPlan) -> UpdatePreviewOut:
        return cls(
            blocked=plan.blocked,
            remapped=[
                RemappedOut(
                    schedule_id=r.schedule.schedule_id,
                    name=r.schedule.name,
                    method=r.schedule.method,
                    path=r.schedule.path,
                    from_endpoint_id=r.schedule.endpoint_id,
                    to_endpoint_id=r.to_endpoint_id,
                )
                for r in plan.remapped
            ],
            missing=[
                MissingOut(schedule_id=m.schedule_id, name=m.name, method=m.method, path=m.path)
                for m in plan.missing
            ],
        )


class InstallOut(Out):
    id: str
    registry_id: str
    version_id: str
    version: str
    content_hash: str
    enabled: bool
    config: dict[str, str]
    granted_caps: list[str]
    has_secrets: bool
    revision: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, v: InstallView) -> InstallOut:
        i = v.install
        return cls(
            id=i.id,
            registry_id=i.registry_id,
            version_id=i.version_id,
            version=v.version.version,
            content_hash=v.version.content_hash,
            enabled=i.enabled,
            config=i.config,
            granted_caps=i.granted_caps,
            has_secrets=i.has_secrets,
            revision=i.revision,
            created_at=i.created_at,
            updated_at=i.updated_at,
        )


# Tenant ----------------------------------------------------------------------------------------


class AuditOut(Out):
    id: str
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, a: AuditEntry) -> AuditOut:
        return cls(
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
    next_cursor: str | None = Field(default=None)


# Schedules -------------------------------------------------------------------------------------


class ScheduleOut(Out):
    id: str
    install_id: str
    endpoint_id: str
    endpoint_method: str | None
    endpoint_path: str | None
    name: str | None
    cron: str
    cron_description: str
    timezone: str
    enabled: bool
    payload_json: Any
    disabled_reason: str | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_run_status: str | None
    last_error: str | None
    last_success_at: datetime | None
    consecutive_failures: int
    max_attempts: int
    jitter_seconds: int
    revision: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, v: ScheduleView) -> ScheduleOut:
        s, e = v.schedule, v.endpoint
        return cls(
            id=s.id,
            install_id=s.install_id,
            endpoint_id=s.endpoint_id,
            endpoint_method=e.method if e else None,
            endpoint_path=e.path if e else None,
            name=s.name,
            cron=s.cron,
            cron_description=describe(s.cron),
            timezone=s.timezone,
            enabled=s.enabled,
            payload_json=s.payload_json,
            disabled_reason=s.disabled_reason,
            next_run_at=v.next_run_at,
            last_run_at=s.last_run_at,
            last_run_status=s.last_run_status,
            last_error=s.last_error,
            last_success_at=s.last_success_at,
            consecutive_failures=s.consecutive_failures,
            max_attempts=s.max_attempts,
            jitter_seconds=s.jitter_seconds,
            revision=s.revision,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class ScheduleList(Wire):
    schedules: list[ScheduleOut]
    next_cursor: str | None


class RunOut(Out):
    id: str
    schedule_id: str
    trigger: str
    scheduled_for: datetime
    status: str
    skip_reason: str | None
    attempt: int
    max_attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    http_status: int | None
    error: str | None
    request_id: str | None

    @classmethod
    def of(cls, r: Run) -> RunOut:
        return cls(
            id=r.id,
            schedule_id=r.schedule_id,
            trigger=r.trigger,
            scheduled_for=r.scheduled_for,
            status=r.status,
            skip_reason=r.skip_reason,
            attempt=r.attempt,
            max_attempts=r.max_attempts,
            started_at=r.started_at,
            finished_at=r.finished_at,
            duration_ms=r.duration_ms,
            http_status=r.http_status,
            error=r.error,
            request_id=r.request_id,
        )


class RunList(Wire):
    runs: list[RunOut]
    next_cursor: str | None


class OccurrenceOut(Wire):
    utc: str
    local: str


class PreviewOut(Wire):
    valid: bool
    field_errors: dict[str, str] | None = None
    description: str | None
    occurrences: list[OccurrenceOut]

    @classmethod
    def of(cls, p: Preview) -> PreviewOut:
        return cls(
            valid=p.valid,
            field_errors=p.field_errors or None,
            description=p.description,
            occurrences=[
                OccurrenceOut(utc=rfc3339(o.utc) or "", local=o.local.isoformat(timespec="seconds"))
                for o in p.occurrences
            ],
        )


class BulkOut(Wire):
    updated: int


class SettingsOut(Wire):
    default_timezone: str
    schedules_paused: bool

    @classmethod
    def of(cls, s: TenantSettings) -> SettingsOut:
        return cls(default_timezone=s.default_timezone, schedules_paused=s.schedules_paused)


# Admin -------------------------------------------------------------------------------------------


class AdminScheduleOut(Out):
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


class KillSwitchIn(Wire):
    schedules_paused: bool


class ReconcileIn(Wire):
    dry_run: bool = False
    tenant_id: str | None = None


class ChangeOut(Wire):
    key: str
    action: str
    detail: str


class ReconcileOut(Wire):
    dry_run: bool
    changes: list[ChangeOut]
