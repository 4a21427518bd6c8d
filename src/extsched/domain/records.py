"""The product's nouns as immutable records, shared by the store, services and API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Extension:
    id: str
    publisher: str
    name: str
    display_name: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def slug(self) -> str:
        return f"{self.publisher}.{self.name}"


@dataclass(frozen=True)
class Version:
    id: str
    registry_id: str
    version: str
    runtime: str | None
    content_hash: str
    manifest: dict[str, Any]
    capabilities: list[str]
    api_endpoints: list[dict[str, str]]
    created_at: datetime


@dataclass(frozen=True)
class Endpoint:
    id: str
    version_id: str
    method: str
    path: str
    handler: str


@dataclass(frozen=True)
class Install:
    tenant_id: str
    id: str
    registry_id: str
    version_id: str
    enabled: bool
    config: dict[str, str]
    granted_caps: list[str]
    secret_envelope: dict[str, Any] | None = field(repr=False)
    revision: int
    created_at: datetime
    updated_at: datetime

    @property
    def has_secrets(self) -> bool:
        return bool(self.secret_envelope)


@dataclass(frozen=True)
class TenantSettings:
    tenant_id: str
    default_timezone: str
    schedules_paused: bool


@dataclass(frozen=True)
class AuditEntry:
    tenant_id: str
    id: str
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Schedule:
    tenant_id: str
    id: str
    install_id: str
    endpoint_id: str
    name: str | None
    cron: str
    timezone: str
    enabled: bool
    payload_json: Any
    max_attempts: int
    jitter_seconds: int
    runner_schedule_id: str | None
    disabled_reason: str | None
    last_run_at: datetime | None
    last_run_status: str | None
    last_error: str | None
    last_success_at: datetime | None
    consecutive_failures: int
    revision: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Run:
    tenant_id: str
    id: str
    schedule_id: str
    install_id: str
    trigger: str
    scheduled_for: datetime
    idempotency_key: str
    status: str
    skip_reason: str | None
    attempt: int
    max_attempts: int
    next_attempt_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    http_status: int | None
    error: str | None
    request_id: str | None
    version_id: str | None
    content_hash: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    created_at: datetime

    def changed(self, **changes: Any) -> Run:
        """A copy with ``changes``; ``dataclasses.replace`` without its per-call introspection
        (a burst makes ten thousand of these)."""
        new = object.__new__(Run)
        new.__dict__.update(self.__dict__, **changes)
        return new
