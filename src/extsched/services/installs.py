"""Tenant installs: install, enable/disable, config and secrets, uninstall (SPEC §2.2, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.clock import Clock
from extsched.domain.endpoints import unschedulable_reason
from extsched.domain.install_config import InstallConfig, install_config
from extsched.domain.json_rules import unknown_keys
from extsched.domain.records import Endpoint, Extension, Install, Version
from extsched.errors import (
    AlreadyExists,
    ExtensionNotInstalled,
    RevisionConflict,
    ValidationFailed,
)
from extsched.secret_box import SecretBox
from extsched.services import audit
from extsched.services.caller import Caller
from extsched.services.inputs import JsonInput
from extsched.services.sync import SyncService
from extsched.store.db import Database
from extsched.store.install_repo import InstallRepo
from extsched.store.intent_repo import SyncTarget
from extsched.store.registry_repo import RegistryRepo
from extsched.store.schedule_repo import ScheduleRepo

MAX_CONFIG_ENTRIES = 100
MAX_CONFIG_VALUE = 4000


@dataclass(frozen=True)
class InstallView:
    install: Install
    version: Version


@dataclass(frozen=True)
class InstalledExtension:
    """An install with what the registry says of its extension, for the tenant's own listing."""

    install: Install
    version: Version
    extension: Extension


@dataclass(frozen=True)
class VersionChoice:
    version: Version
    current: bool


@dataclass(frozen=True)
class EndpointView:
    endpoint: Endpoint
    schedulable: bool
    reason: str | None


async def resolve_install(conn: AsyncConnection, tenant_id: str, extension_id: str) -> Install:
    """``extension_id`` may be the install id, the registry id, or ``publisher.name``."""
    found = await InstallRepo(conn).resolve(tenant_id, extension_id)
    if found is None:
        raise not_installed(extension_id)
    return found


def not_installed(extension_id: str) -> ExtensionNotInstalled:
    return ExtensionNotInstalled(f"extension {extension_id} is not installed for this tenant")


def check_revision(current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise RevisionConflict(
            f"revision {expected} is stale; the current revision is {current}",
            extra={"currentRevision": current},
        )


def _validate_config(config: Any, granted_caps: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    if config is not None:
        if not isinstance(config, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in config.items()
        ):
            errors["config"] = "config must map strings to strings"
        elif len(config) > MAX_CONFIG_ENTRIES or any(
            len(v) > MAX_CONFIG_VALUE for v in config.values()
        ):
            errors["config"] = (
                f"config allows at most {MAX_CONFIG_ENTRIES} entries of {MAX_CONFIG_VALUE} chars"
            )
    if granted_caps is not None and (
        not isinstance(granted_caps, list) or not all(isinstance(c, str) for c in granted_caps)
    ):
        errors["grantedCaps"] = "grantedCaps must be a list of strings"
    return errors


class InstallService:
    def __init__(self, db: Database, clock: Clock, sync: SyncService, box: SecretBox) -> None:
        self.db = db
        self.clock = clock
        self.sync = sync
        self.box = box

    async def _touch_schedules(
        self, conn: AsyncConnection, install: Install, now: datetime
    ) -> list[SyncTarget]:
        """Every schedule of the install follows it on the backend (its firing state)."""
        touched = []
        for s in await ScheduleRepo(conn).list_for_install(install.tenant_id, install.id):
            target = SyncTarget(install.tenant_id, install.id, s.id)
            await self.sync.stage(conn, target, now)
            touched.append(target)
        return touched

    async def _view(self, conn: AsyncConnection, install: Install) -> InstallView:
        version = await RegistryRepo(conn).get_version(install.version_id)
        assert version is not None, "an install always pins an existing version"
        return InstallView(install, version)

    async def install(
        self,
        caller: Caller,
        *,
        registry_id: str,
        version: str,
        config: dict[str, str] | None = None,
        granted_caps: list[str] | None = None,
    ) -> InstallView:
        errors = _validate_config(config, granted_caps)
        if errors:
            raise ValidationFailed(field_errors=errors)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            registry = RegistryRepo(conn)
            if await registry.get_extension(registry_id) is None:
                raise ValidationFailed(field_errors={"registryId": "no such extension"})
            target = await registry.find_version(registry_id, version)
            if target is None:
                raise ValidationFailed(field_errors={"version": f"no version {version}"})
            installs = InstallRepo(conn)
            existing = await installs.find_by_registry(caller.tenant_id, registry_id)
            if existing is not None:
                raise AlreadyExists(
                    "the extension is already installed; use update to change its version",
                    extra={"installId": existing.id},
                )
            created = await installs.insert(
                caller.tenant_id,
                registry_id=registry_id,
                version_id=target.id,
                config=config or {},
                granted_caps=sorted(set(granted_caps or [])),
                now=now,
            )
            await audit.record(
                conn,
                caller,
                "install.created",
                "install",
                created.id,
                audit.changes(None, {"version": target.version, "registryId": registry_id}),
                now,
            )
            return InstallView(created, target)

    async def get(self, caller: Caller, extension_id: str) -> InstallView:
        async with self.db.connect() as conn:
            return await self._view(
                conn, await resolve_install(conn, caller.tenant_id, extension_id)
            )

    async def set_enabled(
        self, caller: Caller, extension_id: str, enabled: bool, expected_revision: int | None = None
    ) -> InstallView:
        now = self.clock.now()
        touched: list[SyncTarget] = []
        async with self.db.transaction() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            check_revision(install.revision, expected_revision)
            if install.enabled != enabled:
                await InstallRepo(conn).update(
                    caller.tenant_id, install.id, now=now, enabled=enabled
                )
                # After the update: a transactional backend reads the new state right here.
                touched = await self._touch_schedules(conn, install, now)
                await audit.record(
                    conn,
                    caller,
                    "install.enabled" if enabled else "install.disabled",
                    "install",
                    install.id,
                    audit.changes({"enabled": install.enabled}, {"enabled": enabled}),
                    now,
                )
            fresh = await InstallRepo(conn).get(caller.tenant_id, install.id)
            assert fresh is not None
            view = await self._view(conn, fresh)
        await self.sync.apply_all(touched)
        return view

    async def set_config(
        self,
        caller: Caller,
        extension_id: str,
        body: JsonInput,
        expected_revision: int | None = None,
    ) -> InstallView:
        """Replace the config map and/or the granted capabilities (``config``, ``grantedCaps``)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            raw = body.value()
            errors = unknown_keys(raw, ("config", "grantedCaps"))
            config, granted_caps = raw.get("config"), raw.get("grantedCaps")
            errors.update(_validate_config(config, granted_caps))
            if errors:
                raise ValidationFailed("the config is invalid", field_errors=errors)
            check_revision(install.revision, expected_revision)
            before = {"config": install.config, "grantedCaps": install.granted_caps}
            after = {
                "config": install.config if config is None else config,
                "grantedCaps": (
                    install.granted_caps if granted_caps is None else sorted(set(granted_caps))
                ),
            }
            if after != before:
                await InstallRepo(conn).update(
                    caller.tenant_id,
                    install.id,
                    now=now,
                    config=after["config"],
                    granted_caps=after["grantedCaps"],
                )
                await audit.record(
                    conn,
                    caller,
                    "install.config_updated",
                    "install",
                    install.id,
                    audit.changes(before, after),
                    now,
                )
            fresh = await InstallRepo(conn).get(caller.tenant_id, install.id)
            assert fresh is not None
            return await self._view(conn, fresh)

    async def set_secrets(self, caller: Caller, extension_id: str, body: JsonInput) -> None:
        """Replace the install's secrets (``{secrets: {name: value}}``). Values are write-only:
        never returned, logged or audited."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            raw = body.value()
            errors = unknown_keys(raw, ("secrets",))
            secrets = raw.get("secrets")
            if not isinstance(secrets, dict) or not all(
                isinstance(k, str) and k and isinstance(v, str) for k, v in secrets.items()
            ):
                errors["secrets"] = "secrets must map names to strings"
            if errors:
                raise ValidationFailed("the secrets are invalid", field_errors=errors)
            envelope = self.box.seal(dict(secrets)) if secrets else None
            await InstallRepo(conn).update(
                caller.tenant_id, install.id, now=now, secret_envelope=envelope
            )
            await audit.record(
                conn,
                caller,
                "install.secrets_updated",
                "install",
                install.id,
                {"names": sorted(secrets)},
                now,
            )

    async def installed(self, caller: Caller) -> list[InstalledExtension]:
        """The tenant's installs, by extension slug."""
        async with self.db.connect() as conn:
            registry = RegistryRepo(conn)
            found = []
            for install in await InstallRepo(conn).list(caller.tenant_id):
                view = await self._view(conn, install)
                extension = await registry.get_extension(install.registry_id)
                assert extension is not None, "an install always names an existing extension"
                found.append(InstalledExtension(install, view.version, extension))
        return sorted(found, key=lambda i: i.extension.slug)

    async def versions(self, caller: Caller, extension_id: str) -> list[VersionChoice]:
        """The published versions the install may move to, newest first, its own marked."""
        async with self.db.connect() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            published = await RegistryRepo(conn).list_versions(install.registry_id)
        return [VersionChoice(v, v.id == install.version_id) for v in reversed(published)]

    async def endpoints(self, caller: Caller, extension_id: str) -> list[EndpointView]:
        async with self.db.connect() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            rows = await RegistryRepo(conn).list_endpoints(install.version_id)
        result = []
        for e in rows:
            reason = unschedulable_reason(e.method, e.path)
            result.append(EndpointView(e, reason is None, reason))
        return result

    async def reseal_secrets(self) -> int:
        """Seal every install's secrets with the first configured key (key rotation, and the
        sealing of envelopes stored in plain before); returns how many were written. Not a
        change of the install: no revision, no audit entry."""
        resealed = 0
        async with self.db.connect() as conn:
            holding = await InstallRepo(conn).with_secrets()
        for tenant_id, install_id in holding:
            async with self.db.transaction() as conn:
                repo = InstallRepo(conn)
                current = await repo.get(tenant_id, install_id, lock=True)
                if current is None or not current.secret_envelope:
                    continue  # uninstalled or cleared meanwhile
                await repo.keep_envelope(
                    tenant_id, install_id, self.box.reseal(current.secret_envelope)
                )
                resealed += 1
        return resealed

    async def install_config(self, tenant_id: str, install_id: str) -> InstallConfig:
        """What the Runner is told about the install, read fresh (never a cached content hash)."""
        async with self.db.connect() as conn:
            install = await resolve_install(conn, tenant_id, install_id)
            view = await self._view(conn, install)
        return install_config(
            install, view.version.content_hash, self.box.open(install.secret_envelope)
        )
