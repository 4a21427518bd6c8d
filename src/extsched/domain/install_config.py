"""What an invocation tells the Runner about an install (SPEC §2.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extsched.domain.records import Install

DEFAULT_PROVIDERS = ("cap:context.read", "cap:log.emit", "cap:user.read")


def providers(granted_caps: list[str]) -> list[str]:
    """Defaults plus what the tenant granted; a capability the manifest merely declares is absent."""
    return sorted(set(DEFAULT_PROVIDERS) | set(granted_caps))


@dataclass(frozen=True)
class InstallConfig:
    install_id: str
    tenant_id: str
    registry_id: str
    version_id: str
    content_hash: str
    config: dict[str, str]
    providers: list[str]
    secret_envelope: dict[str, Any] | None = field(default=None, repr=False)


def install_config(
    install: Install, content_hash: str, secret_envelope: dict[str, Any] | None
) -> InstallConfig:
    """The install as an invocation tells it: ``content_hash`` of its current version, and its
    secrets as the Runner receives them (opened)."""
    return InstallConfig(
        install_id=install.id,
        tenant_id=install.tenant_id,
        registry_id=install.registry_id,
        version_id=install.version_id,
        content_hash=content_hash,
        config=install.config,
        providers=providers(install.granted_caps),
        secret_envelope=secret_envelope,
    )
