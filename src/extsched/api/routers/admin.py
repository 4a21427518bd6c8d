"""Platform operators' routes across tenants (``platform:admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from extsched.api.body import RequestBody, body_after
from extsched.api.deps import Cursor, Limit, require, services
from extsched.api.openapi import body_doc
from extsched.api.schemas.admin import (
    AdminScheduleList,
    AdminScheduleOut,
    ChangeOut,
    KillSwitchIn,
    ReconcileIn,
    ReconcileOut,
)
from extsched.api.schemas.base import reply
from extsched.api.schemas.tenant import SettingsOut
from extsched.auth import PLATFORM_ADMIN, Principal
from extsched.domain.paging import page_request
from extsched.services.container import Services

router = APIRouter(prefix="/api/admin", tags=["admin"])
operator = require(PLATFORM_ADMIN)
Operator = Annotated[Principal, Depends(operator)]
OperatorBody = Annotated[RequestBody, Depends(body_after(operator))]
Svc = Annotated[Services, Depends(services)]


@router.get("/schedules", response_model=AdminScheduleList)
async def list_all_schedules(
    _: Operator,
    svc: Svc,
    tenant_id: Annotated[str | None, Query(alias="tenantId")] = None,
    enabled: Annotated[bool | None, Query()] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    rows, next_cursor = await svc.admin.list_schedules(
        page_request(limit, cursor), tenant_id=tenant_id, enabled=enabled
    )
    return reply(
        AdminScheduleList(schedules=[AdminScheduleOut.of(s) for s in rows], next_cursor=next_cursor)
    )


@router.delete("/tenants/{tenant_id}/schedules/{schedule_id}", status_code=204)
async def admin_delete_schedule(
    tenant_id: str, schedule_id: str, who: Operator, svc: Svc
) -> Response:
    await svc.admin.delete_schedule(who.sub, tenant_id, schedule_id)
    return Response(status_code=204)


@router.put(
    "/tenants/{tenant_id}/kill-switch",
    response_model=SettingsOut,
    openapi_extra=body_doc(KillSwitchIn),
)
async def kill_switch(tenant_id: str, who: Operator, svc: Svc, body: OperatorBody) -> Response:
    paused = body.model(KillSwitchIn).schedules_paused
    return reply(SettingsOut.of(await svc.admin.set_kill_switch(who.sub, tenant_id, paused)))


@router.post("/reconcile", response_model=ReconcileOut, openapi_extra=body_doc(ReconcileIn))
async def reconcile(_: Operator, svc: Svc, body: OperatorBody) -> Response:
    given = body.model(ReconcileIn)
    changes = await svc.reconciler.run(dry_run=given.dry_run, tenant_id=given.tenant_id)
    return reply(
        ReconcileOut(
            dry_run=given.dry_run,
            changes=[ChangeOut(key=c.key, action=c.action, detail=c.detail) for c in changes],
        )
    )
