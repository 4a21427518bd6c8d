"""Install lifecycle routes (SPEC §4, §6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from extsched.api.deps import caller_for, etag, if_match, services
from extsched.api.schemas import (
    ConfigIn,
    InstallIn,
    InstallOut,
    SecretsIn,
    UninstallIn,
    UpdateIn,
    UpdatePreviewOut,
)
from extsched.auth import EXTENSION_READ, EXTENSION_WRITE
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.services.installs import InstallView

router = APIRouter(prefix="/api/v1/extensions", tags=["installs"])
Reader = Annotated[Caller, Depends(caller_for(EXTENSION_READ))]
Writer = Annotated[Caller, Depends(caller_for(EXTENSION_WRITE))]
Svc = Annotated[Services, Depends(services)]
Revision = Annotated[int | None, Depends(if_match)]


def _out(view: InstallView, response: Response) -> InstallOut:
    response.headers["ETag"] = etag(view.install.revision)
    return InstallOut.of(view)


@router.post(
    "/install",
    status_code=201,
    response_model=InstallOut,
    responses={200: {"description": "an existing install moved to this version (remapped)"}},
)
async def install(body: InstallIn, caller: Writer, svc: Svc, response: Response) -> InstallOut:
    view, created = await svc.lifecycle.install(
        caller,
        registry_id=body.registry_id,
        version=body.version,
        config=body.config,
        granted_caps=body.granted_caps,
    )
    if not created:
        response.status_code = 200
    return _out(view, response)


@router.post("/update", response_model=InstallOut)
async def update(
    body: UpdateIn, caller: Writer, svc: Svc, revision: Revision, response: Response
) -> InstallOut:
    view = await svc.lifecycle.update(
        caller,
        body.registry_id,
        body.version,
        disable_missing=body.disable_missing_schedules,
        expected_revision=revision,
    )
    return _out(view, response)


@router.post("/update/preview", response_model=UpdatePreviewOut)
async def update_preview(body: UpdateIn, caller: Reader, svc: Svc) -> UpdatePreviewOut:
    return UpdatePreviewOut.of(
        await svc.lifecycle.preview_update(caller, body.registry_id, body.version)
    )


@router.post("/uninstall", status_code=204)
async def uninstall(body: UninstallIn, caller: Writer, svc: Svc) -> Response:
    await svc.lifecycle.uninstall(caller, body.registry_id)
    return Response(status_code=204)


@router.get("/{extension_id}", response_model=InstallOut)
async def get_install(
    extension_id: str, caller: Reader, svc: Svc, response: Response
) -> InstallOut:
    return _out(await svc.installs.get(caller, extension_id), response)


@router.post("/{extension_id}/enable", response_model=InstallOut)
async def enable(
    extension_id: str, caller: Writer, svc: Svc, revision: Revision, response: Response
) -> InstallOut:
    return _out(await svc.installs.set_enabled(caller, extension_id, True, revision), response)


@router.post("/{extension_id}/disable", response_model=InstallOut)
async def disable(
    extension_id: str, caller: Writer, svc: Svc, revision: Revision, response: Response
) -> InstallOut:
    return _out(await svc.installs.set_enabled(caller, extension_id, False, revision), response)


@router.put("/{extension_id}/config", response_model=InstallOut)
async def set_config(
    extension_id: str,
    body: ConfigIn,
    caller: Writer,
    svc: Svc,
    revision: Revision,
    response: Response,
) -> InstallOut:
    view = await svc.installs.set_config(
        caller,
        extension_id,
        config=body.config,
        granted_caps=body.granted_caps,
        expected_revision=revision,
    )
    return _out(view, response)


@router.put("/{extension_id}/secrets", status_code=204)
async def set_secrets(extension_id: str, body: SecretsIn, caller: Writer, svc: Svc) -> Response:
    await svc.installs.set_secrets(caller, extension_id, body.secrets)
    return Response(status_code=204)
