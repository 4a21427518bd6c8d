"""Previewing a cron expression in a zone for an installed extension's schedules."""

from __future__ import annotations

from extsched.clock import Clock
from extsched.domain.preview import Preview, preview, read_request
from extsched.services.caller import Caller
from extsched.services.inputs import JsonInput
from extsched.services.installs import resolve_install
from extsched.store.db import Database
from extsched.store.tenant_repo import TenantRepo


class PreviewService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def preview(self, caller: Caller, extension_id: str, body: JsonInput) -> Preview:
        """The next occurrences of a cron expression in a zone (default: the tenant's); an
        invalid expression or zone is a result with its field errors, not an error."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            await resolve_install(conn, caller.tenant_id, extension_id)
            request = read_request(body.value())
            tz = request.timezone
            if tz is None:
                tz = (await TenantRepo(conn).settings(caller.tenant_id)).default_timezone
        return preview(request.cron, tz, now, request.count)
