"""Audit details: the before/after of changed fields only, with payloads summarised."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from extsched.domain.records import AuditEntry
from extsched.ids import new_id
from extsched.services.caller import Caller
from extsched.store.tenant_repo import TenantRepo

# Fields whose values are never copied into the audit log, only a summary of them.
SUMMARISED_FIELDS = frozenset({"payloadJson"})


def summarise(value: Any) -> Any:
    if value is None:
        return None
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    kind = "array" if isinstance(value, list) else type(value).__name__
    return {"type": kind, "size": len(text), "sha256": digest}


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """``{before: {...}, after: {...}}`` restricted to the fields that differ."""
    b, a = before or {}, after or {}
    keys = [k for k in dict.fromkeys([*b, *a]) if b.get(k) != a.get(k)]

    def side(d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            return None
        return {k: summarise(d.get(k)) if k in SUMMARISED_FIELDS else d.get(k) for k in keys}

    return {"before": side(before), "after": side(after)}


def entry(
    caller: Caller,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any],
    now: datetime,
) -> AuditEntry:
    return AuditEntry(
        tenant_id=caller.tenant_id,
        id=new_id(),
        actor=caller.actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
        created_at=now,
    )


async def record(
    conn: AsyncConnection,
    caller: Caller,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    await TenantRepo(conn).add_audit(entry(caller, action, target_type, target_id, details, now))
