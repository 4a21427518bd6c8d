"""Tenant-wide reads and settings: the audit log (settings and the kill switch build on this)."""

from __future__ import annotations

from extsched.clock import Clock
from extsched.domain.records import AuditEntry
from extsched.services.caller import Caller
from extsched.store.db import Database
from extsched.store.pagination import PageRequest, encode_cursor
from extsched.store.tenant_repo import TenantRepo


class TenantService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def audit(self, caller: Caller, page: PageRequest) -> tuple[list[AuditEntry], str | None]:
        async with self.db.connect() as conn:
            rows = await TenantRepo(conn).list_audit(caller.tenant_id, page)
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
        return rows, cursor
