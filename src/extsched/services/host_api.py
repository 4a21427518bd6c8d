"""The scheduler host API (SPEC §10): an extension's code, through the Runner, manages the
schedules of its own install. The schedule rules are the admin API's own (``ScheduleService``);
this service only names the install, checks the capability and the rate, and translates fields.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from extsched.clock import Clock
from extsched.domain.host_calls import (
    MUTATIONS,
    SCHEDULER_CAPABILITY,
    HostCall,
    admin_body,
    find_endpoint,
    host_errors,
    read_call,
)
from extsched.domain.install_config import providers
from extsched.domain.paging import MAX_LIMIT, page_request
from extsched.domain.records import Install
from extsched.errors import ExtensionNotInstalled, Forbidden, RateLimited, ValidationFailed
from extsched.services.caller import Caller
from extsched.services.inputs import Given, JsonInput
from extsched.services.installs import EndpointView, InstallService
from extsched.services.schedules import ScheduleService, ScheduleView
from extsched.store.db import Database
from extsched.store.install_repo import InstallRepo

MAX_MUTATIONS = 10
WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class HostAnswer:
    """What an operation answers: ``status`` and one of the values."""

    status: int
    schedules: list[ScheduleView] | None = None
    schedule: ScheduleView | None = None
    endpoints: list[EndpointView] | None = None
    deleted: bool = False


class HostApiService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        schedules: ScheduleService,
        installs: InstallService,
    ) -> None:
        self.db = db
        self.clock = clock
        self.schedules = schedules
        self.installs = installs
        # Per process, like the gateway's bucket: recent mutations of each install.
        self._recent: dict[str, deque[datetime]] = {}

    async def handle(self, install_id: str, body: JsonInput) -> HostAnswer:
        now = self.clock.now()
        async with self.db.connect() as conn:
            install = await InstallRepo(conn).find_any_tenant(install_id)
        if install is None or not install.enabled:
            raise ExtensionNotInstalled(f"install {install_id} does not exist or is disabled")
        if SCHEDULER_CAPABILITY not in providers(install.granted_caps):
            raise Forbidden(f"the install was not granted {SCHEDULER_CAPABILITY}")
        call = read_call(body.value())
        if "operation" in call.errors or "body" in call.errors:
            raise ValidationFailed(field_errors=call.errors)
        if call.operation in MUTATIONS:
            self._admit(install.id, now)
        if call.errors:
            raise ValidationFailed(field_errors=call.errors)
        caller = Caller(install.tenant_id, f"extension:{install.registry_id}")
        return await self._run(caller, install, call)

    def _admit(self, install_id: str, now: datetime) -> None:
        recent = self._recent.setdefault(install_id, deque())
        while recent and recent[0] <= now - WINDOW:
            recent.popleft()
        if len(recent) >= MAX_MUTATIONS:
            wait = (recent[0] + WINDOW - now).total_seconds()
            raise RateLimited(
                f"at most {MAX_MUTATIONS} schedule changes per install per minute",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        recent.append(now)

    async def _run(self, caller: Caller, install: Install, call: HostCall) -> HostAnswer:
        schedules = self.schedules
        op, sid = call.operation, call.schedule_id or ""
        if op == "list":
            return HostAnswer(200, schedules=await self._all(caller, install.id))
        if op == "get":
            return HostAnswer(200, schedule=await schedules.get(caller, install.id, sid))
        if op == "getEndpoints":
            return HostAnswer(200, endpoints=await self.installs.endpoints(caller, install.id))
        if op == "delete":
            await schedules.delete(caller, install.id, sid)
            return HostAnswer(200, deleted=True)
        # An endpoint that names nothing is reported only if the schedule service refuses the
        # body too, after its own lookups: another install's schedule stays a 404.
        endpoint_id, endpoint_error = None, None
        if "endpoint" in call.fields:
            found = await self.installs.endpoints(caller, install.id)
            endpoint_id, endpoint_error = find_endpoint(
                call.fields["endpoint"], [f.endpoint for f in found]
            )
        given = Given(admin_body(call.fields, endpoint_id))
        try:
            if op == "create":
                created = await schedules.create(caller, install.id, given)
                return HostAnswer(201, schedule=created)
            return HostAnswer(200, schedule=await schedules.update(caller, install.id, sid, given))
        except ValidationFailed as refused:
            errors = host_errors(refused.field_errors or {})
            if endpoint_error is not None:
                errors["endpoint"] = endpoint_error
            raise ValidationFailed(refused.detail, field_errors=errors) from None

    async def _all(self, caller: Caller, install_id: str) -> list[ScheduleView]:
        found: list[ScheduleView] = []
        cursor: str | None = None
        while True:
            page, cursor = await self.schedules.list_page(
                caller, install_id, page_request(MAX_LIMIT, cursor)
            )
            found.extend(page)
            if cursor is None:
                return found
