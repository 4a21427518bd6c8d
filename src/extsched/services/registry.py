"""Platform operators' registry: extensions, versions, materialized endpoints (SPEC §2.1)."""

from __future__ import annotations

import re
from typing import Any

from extsched.clock import Clock
from extsched.domain.endpoints import ManifestError, manifest_capabilities, parse_manifest_endpoints
from extsched.domain.records import Endpoint, Extension, Version
from extsched.errors import (
    AlreadyExists,
    InvalidManifest,
    RegistryNotFound,
    ValidationFailed,
    VersionInUse,
    VersionNotFound,
)
from extsched.store.db import Database
from extsched.store.install_repo import InstallRepo
from extsched.store.registry_repo import RegistryRepo
from extsched.store.schedule_fleet import ScheduleFleet

_IDENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$", re.IGNORECASE)
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


class RegistryService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create_extension(
        self,
        publisher: str,
        name: str,
        display_name: str | None = None,
        description: str | None = None,
    ) -> Extension:
        errors = {}
        publisher, name = publisher.strip(), name.strip()
        if not _IDENT.match(publisher):
            errors["publisher"] = "publisher must be letters, digits and '-' (at most 128)"
        if not _IDENT.match(name):
            errors["name"] = "name must be letters, digits and '-' (at most 128)"
        if errors:
            raise ValidationFailed(field_errors=errors)
        async with self.db.transaction() as conn:
            repo = RegistryRepo(conn)
            if await repo.find_extension_by_slug(publisher, name) is not None:
                raise AlreadyExists(f"extension {publisher}.{name} already exists")
            return await repo.insert_extension(
                publisher=publisher,
                name=name,
                display_name=display_name,
                description=description,
                now=self.clock.now(),
            )

    async def list_extensions(self) -> list[Extension]:
        async with self.db.connect() as conn:
            return await RegistryRepo(conn).list_extensions()

    async def get_extension(self, registry_id: str) -> Extension:
        async with self.db.connect() as conn:
            ext = await RegistryRepo(conn).get_extension(registry_id)
        if ext is None:
            raise RegistryNotFound(f"no extension {registry_id}")
        return ext

    async def publish_version(
        self,
        registry_id: str,
        *,
        version: str,
        content_hash: str,
        manifest: Any,
        runtime: str | None = None,
    ) -> tuple[Version, list[Endpoint]]:
        """Create an immutable version and materialize its endpoints in the same transaction."""
        errors = {}
        if not version.strip() or len(version) > 64:
            errors["version"] = "version must be 1 to 64 characters"
        if not _HASH.match(content_hash):
            errors["contentHash"] = "contentHash must be 'sha256:' followed by 64 hex digits"
        if errors:
            raise ValidationFailed(field_errors=errors)
        try:
            endpoints = parse_manifest_endpoints(manifest)
        except ManifestError as exc:
            raise InvalidManifest(
                "the manifest's api.endpoints are invalid",
                extra={"errors": [i.as_dict() for i in exc.issues]},
            ) from exc
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repo = RegistryRepo(conn)
            if await repo.get_extension(registry_id) is None:
                raise RegistryNotFound(f"no extension {registry_id}")
            if await repo.find_version(registry_id, version.strip()) is not None:
                raise AlreadyExists(f"version {version} already exists; versions are immutable")
            created = await repo.insert_version(
                registry_id=registry_id,
                version=version.strip(),
                runtime=runtime,
                content_hash=content_hash,
                manifest=manifest,
                capabilities=manifest_capabilities(manifest),
                endpoints=endpoints,
                now=now,
            )
            rows = await repo.materialize_endpoints(created, now)
        return created, rows

    async def list_versions(self, registry_id: str) -> list[Version]:
        async with self.db.connect() as conn:
            repo = RegistryRepo(conn)
            if await repo.get_extension(registry_id) is None:
                raise RegistryNotFound(f"no extension {registry_id}")
            return await repo.list_versions(registry_id)

    async def version_endpoints(self, version_id: str) -> list[Endpoint]:
        async with self.db.connect() as conn:
            return await RegistryRepo(conn).list_endpoints(version_id)

    async def delete_version(self, registry_id: str, version: str) -> None:
        """Refused while any install pins the version or any schedule points at its endpoints."""
        async with self.db.transaction() as conn:
            repo = RegistryRepo(conn)
            found = await repo.find_version(registry_id, version)
            if found is None:
                raise VersionNotFound(f"no version {version} of extension {registry_id}")
            installs = await InstallRepo(conn).count_using_version(found.id)
            endpoint_ids = [e.id for e in await repo.list_endpoints(found.id)]
            schedules = await ScheduleFleet(conn).count_using_endpoints(endpoint_ids)
            if installs or schedules:
                raise VersionInUse(
                    f"version {version} is used by {installs} install(s) and "
                    f"{schedules} schedule(s)",
                    extra={"installs": installs, "schedules": schedules},
                )
            await repo.delete_version(found.id)

    async def backfill_endpoints(self, version_id: str | None = None) -> dict[str, list[str]]:
        """Materialize endpoints of one or every version; idempotent (ids are kept)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repo = RegistryRepo(conn)
            ids = [version_id] if version_id else await repo.list_version_ids()
            result: dict[str, list[str]] = {}
            for vid in ids:
                found = await repo.get_version(vid)
                if found is None:
                    raise VersionNotFound(f"no version with id {vid}")
                rows = await repo.materialize_endpoints(found, now)
                result[vid] = [e.id for e in rows]
            return result
