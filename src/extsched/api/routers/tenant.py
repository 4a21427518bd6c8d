"""Tenant-wide routes: settings (default time zone, kill switch) and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from extsched.api.body import RequestBody, body_after
from extsched.api.deps import Cursor, Limit, caller_for, services
from extsched.api.openapi import body_doc
from extsched.api.schemas.base import reply
from extsched.api.schemas.tenant import AuditList, AuditOut, SettingsIn, SettingsOut
from extsched.auth import EXTENSION_READ, EXTENSION_WRITE
from extsched.domain.paging import page_request
from extsched.services.caller import Caller
from extsched.services.container import Services

router = APIRouter(prefix="/api/tenant", tags=["tenant"])
write = caller_for(EXTENSION_WRITE)
Reader = Annotated[Caller, Depends(caller_for(EXTENSION_READ))]
Writer = Annotated[Caller, Depends(write)]
WriterBody = Annotated[RequestBody, Depends(body_after(write))]
Svc = Annotated[Services, Depends(services)]


@router.get("/audit", response_model=AuditList, description="Newest first.")
async def audit(caller: Reader, svc: Svc, limit: Limit = None, cursor: Cursor = None) -> Response:
    rows, next_cursor = await svc.tenants.audit(caller, page_request(limit, cursor))
    return reply(AuditList(entries=[AuditOut.of(a) for a in rows], next_cursor=next_cursor))


@router.get("/settings", response_model=SettingsOut)
async def get_settings(caller: Reader, svc: Svc) -> Response:
    return reply(SettingsOut.of(await svc.tenants.settings(caller)))


@router.put("/settings", response_model=SettingsOut, openapi_extra=body_doc(SettingsIn))
async def put_settings(caller: Writer, svc: Svc, body: WriterBody) -> Response:
    return reply(SettingsOut.of(await svc.tenants.update_settings(caller, body)))
