"""Platform operators' registry routes (``platform:admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from extsched.api.body import RequestBody, body_after
from extsched.api.deps import require, services
from extsched.api.openapi import body_doc, problems
from extsched.api.schemas.base import reply
from extsched.api.schemas.registry import (
    EndpointList,
    EndpointOut,
    ExtensionIn,
    ExtensionList,
    ExtensionOut,
    VersionIn,
    VersionList,
    VersionOut,
)
from extsched.auth import PLATFORM_ADMIN, Principal
from extsched.domain.endpoints import unschedulable_reason
from extsched.domain.records import Endpoint
from extsched.services.container import Services
from extsched.services.installs import EndpointView

router = APIRouter(prefix="/api/registry", tags=["registry"])
operator = require(PLATFORM_ADMIN)
Operator = Annotated[Principal, Depends(operator)]
OperatorBody = Annotated[RequestBody, Depends(body_after(operator))]
Svc = Annotated[Services, Depends(services)]


def _views(rows: list[Endpoint]) -> list[EndpointView]:
    return [EndpointView(e, (r := unschedulable_reason(e.method, e.path)) is None, r) for e in rows]


@router.post(
    "/extensions",
    status_code=201,
    response_model=ExtensionOut,
    openapi_extra=body_doc(ExtensionIn),
    responses=problems(409),
)
async def create_extension(_: Operator, svc: Svc, body: OperatorBody) -> Response:
    given = body.model(ExtensionIn)
    ext = await svc.registry.create_extension(
        given.publisher, given.name, given.display_name, given.description
    )
    return reply(ExtensionOut.of(ext), 201)


@router.get("/extensions", response_model=ExtensionList)
async def list_extensions(_: Operator, svc: Svc) -> Response:
    extensions = await svc.registry.list_extensions()
    return reply(ExtensionList(extensions=[ExtensionOut.of(e) for e in extensions]))


@router.get("/extensions/{registry_id}", response_model=ExtensionOut)
async def get_extension(registry_id: str, _: Operator, svc: Svc) -> Response:
    return reply(ExtensionOut.of(await svc.registry.get_extension(registry_id)))


@router.post(
    "/extensions/{registry_id}/versions",
    status_code=201,
    response_model=VersionOut,
    openapi_extra=body_doc(VersionIn),
    responses=problems(400, 409),
)
async def publish_version(registry_id: str, _: Operator, svc: Svc, body: OperatorBody) -> Response:
    await svc.registry.get_extension(registry_id)  # an unknown extension is a 404 before a 422
    given = body.model(VersionIn)
    version, endpoints = await svc.registry.publish_version(
        registry_id,
        version=given.version,
        content_hash=given.content_hash,
        manifest=given.manifest,
        runtime=given.runtime,
    )
    return reply(VersionOut.of(version, _views(endpoints)), 201)


@router.get("/extensions/{registry_id}/versions", response_model=VersionList)
async def list_versions(registry_id: str, _: Operator, svc: Svc) -> Response:
    versions = await svc.registry.list_versions(registry_id)
    out = [VersionOut.of(v, _views(await svc.registry.version_endpoints(v.id))) for v in versions]
    return reply(VersionList(versions=out))


@router.get("/versions/{version_id}/endpoints", response_model=EndpointList)
async def version_endpoints(version_id: str, _: Operator, svc: Svc) -> Response:
    rows = await svc.registry.version_endpoints(version_id)
    return reply(EndpointList(endpoints=[EndpointOut.of(v) for v in _views(rows)]))


@router.delete(
    "/extensions/{registry_id}/versions/{version}", status_code=204, responses=problems(409)
)
async def delete_version(registry_id: str, version: str, _: Operator, svc: Svc) -> Response:
    await svc.registry.delete_version(registry_id, version)
    return Response(status_code=204)
