"""Install lifecycle routes (SPEC §4, §6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from extsched.api.body import RequestBody, body_after
from extsched.api.deps import caller_for, etag, if_match, services
from extsched.api.openapi import body_doc, problems
from extsched.api.schemas.base import reply
from extsched.api.schemas.installs import (
    ConfigIn,
    InstalledList,
    InstalledOut,
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
read, write = caller_for(EXTENSION_READ), caller_for(EXTENSION_WRITE)
Reader = Annotated[Caller, Depends(read)]
Writer = Annotated[Caller, Depends(write)]
ReaderBody = Annotated[RequestBody, Depends(body_after(read))]
WriterBody = Annotated[RequestBody, Depends(body_after(write))]
Svc = Annotated[Services, Depends(services)]
Revision = Annotated[int | None, Depends(if_match)]


def _install(view: InstallView, status: int = 200) -> Response:
    return reply(InstallOut.of(view), status, headers={"ETag": etag(view.install.revision)})


@router.get("", response_model=InstalledList, description="The tenant's installs, by slug.")
async def installed(caller: Reader, svc: Svc) -> Response:
    rows = await svc.installs.installed(caller)
    return reply(InstalledList(extensions=[InstalledOut.of_installed(i) for i in rows]))


@router.post(
    "/install",
    status_code=201,
    response_model=InstallOut,
    openapi_extra=body_doc(InstallIn),
    responses={
        200: {"model": InstallOut, "description": "An existing install moved to this version"},
        **problems(409),
    },
)
async def install(caller: Writer, svc: Svc, body: WriterBody) -> Response:
    given = body.model(InstallIn)
    view, created = await svc.lifecycle.install(
        caller,
        registry_id=given.registry_id,
        version=given.version,
        config=given.config,
        granted_caps=given.granted_caps,
    )
    return _install(view, 201 if created else 200)


@router.post(
    "/update",
    response_model=InstallOut,
    openapi_extra=body_doc(UpdateIn),
    responses=problems(404, 409),
)
async def update(caller: Writer, svc: Svc, revision: Revision, body: WriterBody) -> Response:
    given = body.model(UpdateIn)
    view = await svc.lifecycle.update(
        caller,
        given.registry_id,
        given.version,
        disable_missing=given.disable_missing_schedules,
        expected_revision=revision,
    )
    return _install(view)


@router.post(
    "/update/preview",
    response_model=UpdatePreviewOut,
    openapi_extra=body_doc(UpdateIn),
    responses=problems(404),
)
async def update_preview(caller: Reader, svc: Svc, body: ReaderBody) -> Response:
    given = body.model(UpdateIn)
    plan = await svc.lifecycle.preview_update(caller, given.registry_id, given.version)
    return reply(UpdatePreviewOut.of(plan))


@router.post("/uninstall", status_code=204, openapi_extra=body_doc(UninstallIn))
async def uninstall(caller: Writer, svc: Svc, body: WriterBody) -> Response:
    await svc.lifecycle.uninstall(caller, body.model(UninstallIn).registry_id)
    return Response(status_code=204)


@router.get("/{extension_id}", response_model=InstallOut)
async def get_install(extension_id: str, caller: Reader, svc: Svc) -> Response:
    return _install(await svc.installs.get(caller, extension_id))


@router.post("/{extension_id}/enable", response_model=InstallOut, responses=problems(409))
async def enable(extension_id: str, caller: Writer, svc: Svc, revision: Revision) -> Response:
    return _install(await svc.installs.set_enabled(caller, extension_id, True, revision))


@router.post("/{extension_id}/disable", response_model=InstallOut, responses=problems(409))
async def disable(extension_id: str, caller: Writer, svc: Svc, revision: Revision) -> Response:
    return _install(await svc.installs.set_enabled(caller, extension_id, False, revision))


@router.put(
    "/{extension_id}/config",
    response_model=InstallOut,
    openapi_extra=body_doc(ConfigIn),
    responses=problems(409),
)
async def set_config(
    extension_id: str, caller: Writer, svc: Svc, revision: Revision, body: WriterBody
) -> Response:
    return _install(await svc.installs.set_config(caller, extension_id, body, revision))


@router.put("/{extension_id}/secrets", status_code=204, openapi_extra=body_doc(SecretsIn))
async def set_secrets(extension_id: str, caller: Writer, svc: Svc, body: WriterBody) -> Response:
    await svc.installs.set_secrets(caller, extension_id, body)
    return Response(status_code=204)
