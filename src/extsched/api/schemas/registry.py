"""Registry shapes: extensions, versions, their endpoints (SPEC §2.1, §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from extsched.api.schemas.base import In, Wire
from extsched.domain.records import Extension, Version
from extsched.services.installs import EndpointView


class ExtensionIn(In):
    publisher: str = Field(description="letters, digits and '-', at most 128")
    name: str = Field(description="letters, digits and '-', at most 128")
    display_name: str | None = None
    description: str | None = None


class ExtensionOut(Wire):
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


class VersionIn(In):
    version: str = Field(description="1 to 64 characters; versions are immutable")
    content_hash: str = Field(description="'sha256:' followed by 64 hex digits")
    runtime: str | None = None
    manifest: dict[str, Any] = Field(
        description="The manifest; `api.endpoints` lists `{method, path, handler}`"
    )


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


class VersionOut(Wire):
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
