"""Platform operators' registry routes (``platform:admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from extsched.api.deps import require, services
from extsched.api.schemas import (
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
Operator = Annotated[Principal, Depends(require(PLATFORM_ADMIN))]
Svc = Annotated[Services, Depends(services)]


def _views(rows: list[Endpoint]) -> list[EndpointView]:
    return [EndpointView(e, (r := unschedulable_reason(e.method, e.path)) is None, r) for e in rows]


@router.post("/extensions", status_code=201, response_model=ExtensionOut)
async def create_extension(body: ExtensionIn, _: Operator, svc: Svc) -> ExtensionOut:
    ext = await svc.registry.create_extension(
        body.publisher, body.name, body.display_name, body.description
    )
    return ExtensionOut.of(ext)


@router.get("/extensions", response_model=ExtensionList)
async def list_extensions(_: Operator, svc: Svc) -> ExtensionList:
    return ExtensionList(
        extensions=[ExtensionOut.of(e) for e in await svc.registry.list_extensions()]
    )


@router.get("/extensions/{registry_id}", response_model=ExtensionOut)
async def get_extension(registry_id: str, _: Operator, svc: Svc) -> ExtensionOut:
    return ExtensionOut.of(await svc.registry.get_extension(registry_id))


@router.post("/extensions/{registry_id}/versions", status_code=201, response_model=VersionOut)
async def publish_version(registry_id: str, body: VersionIn, _: Operator, svc: Svc) -> VersionOut:
    version, endpoints = await svc.registry.publish_version(
        registry_id,
        version=body.version,
        content_hash=body.content_hash,
        manifest=body.manifest,
        runtime=body.runtime,
    )
    return VersionOut.of(version, _views(endpoints))


@router.get("/extensions/{registry_id}/versions", response_model=VersionList)
async def list_versions(registry_id: str, _: Operator, svc: Svc) -> VersionList:
    versions = await svc.registry.list_versions(registry_id)
    out = [VersionOut.of(v, _views(await svc.registry.version_endpoints(v.id))) for v in versions]
    return VersionList(versions=out)


@router.get("/versions/{version_id}/endpoints", response_model=EndpointList)
async def version_endpoints(version_id: str, _: Operator, svc: Svc) -> EndpointList:
    rows = await svc.registry.version_endpoints(version_id)
    return EndpointList(endpoints=[EndpointOut.of(v) for v in _views(rows)])


@router.delete("/extensions/{registry_id}/versions/{version}", status_code=204)
async def delete_version(registry_id: str, version: str, _: Operator, svc: Svc) -> Response:
    await svc.registry.delete_version(registry_id, version)
    return Response(status_code=204)
