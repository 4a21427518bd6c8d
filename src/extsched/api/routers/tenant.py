"""Tenant-wide routes: settings (default time zone, kill switch) and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from extsched.api.deps import caller_for, services
from extsched.api.schemas import AuditList, AuditOut, SettingsOut
from extsched.auth import EXTENSION_READ, EXTENSION_WRITE
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.store.pagination import page_request

router = APIRouter(prefix="/api/tenant", tags=["tenant"])
Reader = Annotated[Caller, Depends(caller_for(EXTENSION_READ))]
Writer = Annotated[Caller, Depends(caller_for(EXTENSION_WRITE))]
Svc = Annotated[Services, Depends(services)]


@router.get("/audit", response_model=AuditList)
async def audit(
    caller: Reader,
    svc: Svc,
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> AuditList:
    rows, next_cursor = await svc.tenants.audit(caller, page_request(limit, cursor))
    return AuditList(entries=[AuditOut.of(a) for a in rows], next_cursor=next_cursor)


@router.get("/settings", response_model=SettingsOut)
async def get_settings(caller: Reader, svc: Svc) -> SettingsOut:
    return SettingsOut.of(await svc.tenants.settings(caller))


@router.put("/settings", response_model=SettingsOut)
async def put_settings(caller: Writer, svc: Svc, body: Annotated[Any, Body()]) -> SettingsOut:
    return SettingsOut.of(await svc.tenants.update_settings(caller, body))
