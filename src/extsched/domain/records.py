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
