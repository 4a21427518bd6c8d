"""Tenant-wide routes: the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from extsched.api.deps import caller_for, services
from extsched.api.schemas import AuditList, AuditOut
from extsched.auth import EXTENSION_READ
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.store.pagination import page_request

router = APIRouter(prefix="/api/tenant", tags=["tenant"])
Reader = Annotated[Caller, Depends(caller_for(EXTENSION_READ))]
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
