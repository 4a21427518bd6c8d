"""Platform operators' routes across tenants (``platform:admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from extsched.api.deps import require, services
from extsched.api.schemas import (
    AdminScheduleList,
    AdminScheduleOut,
    ChangeOut,
    KillSwitchIn,
    ReconcileIn,
    ReconcileOut,
    SettingsOut,
)
from extsched.auth import PLATFORM_ADMIN, Principal
from extsched.services.container import Services
from extsched.store.pagination import page_request

router = APIRouter(prefix="/api/admin", tags=["admin"])
Operator = Annotated[Principal, Depends(require(PLATFORM_ADMIN))]
Svc = Annotated[Services, Depends(services)]


@router.get("/schedules", response_model=AdminScheduleList)
async def list_schedules(
    _: Operator,
    svc: Svc,
    tenant_id: Annotated[str | None, Query(alias="tenantId")] = None,
    enabled: Annotated[bool | None, Query()] = None,
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> AdminScheduleList:
    rows, next_cursor = await svc.admin.list_schedules(
        page_request(limit, cursor), tenant_id=tenant_id, enabled=enabled
    )
    return AdminScheduleList(
        schedules=[AdminScheduleOut.of(s) for s in rows], next_cursor=next_cursor
    )


@router.delete("/tenants/{tenant_id}/schedules/{schedule_id}", status_code=204)
async def delete_schedule(tenant_id: str, schedule_id: str, who: Operator, svc: Svc) -> Response:
    await svc.admin.delete_schedule(who.sub, tenant_id, schedule_id)
    return Response(status_code=204)


@router.put("/tenants/{tenant_id}/kill-switch", response_model=SettingsOut)
async def kill_switch(tenant_id: str, body: KillSwitchIn, who: Operator, svc: Svc) -> SettingsOut:
    return SettingsOut.of(
        await svc.admin.set_kill_switch(who.sub, tenant_id, body.schedules_paused)
    )


@router.post("/reconcile", response_model=ReconcileOut)
async def reconcile(body: ReconcileIn, _: Operator, svc: Svc) -> ReconcileOut:
    changes = await svc.reconciler.run(dry_run=body.dry_run, tenant_id=body.tenant_id)
    return ReconcileOut(
        dry_run=body.dry_run,
        changes=[ChangeOut(key=c.key, action=c.action, detail=c.detail) for c in changes],
    )
