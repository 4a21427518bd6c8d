"""Routes on one installed extension: its endpoints and the versions it may move to (schedules
build on this router)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from extsched.api.deps import caller_for, services
from extsched.api.schemas.base import reply
from extsched.api.schemas.installs import VersionChoiceList, VersionChoiceOut
from extsched.api.schemas.registry import EndpointList, EndpointOut
from extsched.auth import EXTENSION_READ
from extsched.services.caller import Caller
from extsched.services.container import Services

router = APIRouter(prefix="/api/extensions/{extension_id}", tags=["extensions"])
Reader = Annotated[Caller, Depends(caller_for(EXTENSION_READ))]
Svc = Annotated[Services, Depends(services)]


@router.get("/endpoints", response_model=EndpointList)
async def endpoints(extension_id: str, caller: Reader, svc: Svc) -> Response:
    views = await svc.installs.endpoints(caller, extension_id)
    return reply(EndpointList(endpoints=[EndpointOut.of(v) for v in views]))


@router.get("/versions", response_model=VersionChoiceList, description="Newest first.")
async def versions(extension_id: str, caller: Reader, svc: Svc) -> Response:
    choices = await svc.installs.versions(caller, extension_id)
    return reply(VersionChoiceList(versions=[VersionChoiceOut.of(c) for c in choices]))
