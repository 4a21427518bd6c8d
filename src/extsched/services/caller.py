"""Who is asking: the tenant and actor resolved once, at the edge, from the credential."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    actor: str
