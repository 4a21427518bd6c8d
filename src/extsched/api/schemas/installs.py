"""Install shapes: install, update and its remap preview, config, secrets (SPEC §2.2, §4, §6)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from extsched.api.schemas.base import In, Wire
from extsched.domain.remap import RemapPlan
from extsched.services.installs import InstalledExtension, InstallView, VersionChoice


class InstallIn(In):
    registry_id: str
    version: str
    config: dict[str, str] | None = None
    granted_caps: list[str] | None = None


class ConfigIn(In):
    config: dict[str, str] | None = Field(
        default=None, description="Replaces the config map (at most 100 entries of 4000 chars)"
    )
    granted_caps: list[str] | None = Field(
        default=None, description="Replaces the capabilities the tenant grants"
    )


class SecretsIn(In):
    secrets: dict[str, str] = Field(
        description="Replaces the install's secrets; write-only, encrypted at rest"
    )


class UninstallIn(In):
    registry_id: str


class UpdateIn(In):
    registry_id: str
    version: str
    disable_missing_schedules: bool = Field(
        default=False,
        description="Disable the schedules the target version cannot serve instead of refusing"
        " (ignored by the preview)",
    )


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


class InstallOut(Wire):
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


class InstalledOut(InstallOut):
    slug: str = Field(description="publisher.name, usable wherever {extensionId} is")
    display_name: str | None
    description: str | None

    @classmethod
    def of_installed(cls, i: InstalledExtension) -> InstalledOut:
        e = i.extension
        base = InstallOut.of(InstallView(i.install, i.version)).model_dump()
        return cls(**base, slug=e.slug, display_name=e.display_name, description=e.description)


class InstalledList(Wire):
    extensions: list[InstalledOut]


class VersionChoiceOut(Wire):
    version: str
    created_at: datetime
    current: bool = Field(description="the version the install runs now")

    @classmethod
    def of(cls, c: VersionChoice) -> VersionChoiceOut:
        return cls(version=c.version.version, created_at=c.version.created_at, current=c.current)


class VersionChoiceList(Wire):
    versions: list[VersionChoiceOut]
