"""Request and response shapes: camelCase on the wire, times in RFC 3339 UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from pydantic.alias_generators import to_camel

from extsched.domain.records import AuditEntry, Extension, Version
from extsched.services.installs import EndpointView, InstallView


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
