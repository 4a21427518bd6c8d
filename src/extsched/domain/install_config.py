"""What an invocation tells the Runner about an install (SPEC §2.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
