"""Schedules of one installed extension (SPEC §4, §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response

from extsched.api.deps import caller_for, etag, if_match, services
from extsched.api.schemas import BulkOut, PreviewOut, RunList, RunOut, ScheduleList, ScheduleOut
from extsched.auth import EXTENSION_READ, EXTENSION_WRITE
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.services.schedules import ScheduleView
from extsched.store.pagination import page_request

router = APIRouter(prefix="/api/extensions/{extension_id}/schedules", tags=["schedules"])
Reader = Annotated[Caller, Depends(caller_for(EXTENSION_READ))]
Writer = Annotated[Caller, Depends(caller_for(EXTENSION_WRITE))]
Svc = Annotated[Services, Depends(services)]
Revision = Annotated[int | None, Depends(if_match)]
# Bodies are validated by the service so every invalid field is reported at once, by its name.
JsonBody = Annotated[Any, Body()]
Limit = Annotated[int | None, Query()]
Cursor = Annotated[str | None, Query()]


def _out(view: ScheduleView, response: Response) -> ScheduleOut:
    response.headers["ETag"] = etag(view.schedule.revision)
    return ScheduleOut.of(view)


@router.get("", response_model=ScheduleList)
async def list_schedules(
    extension_id: str,
    caller: Reader,
    svc: Svc,
    limit: Limit = None,
    cursor: Cursor = None,
    enabled: Annotated[bool | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
) -> ScheduleList:
    views, next_cursor = await svc.schedules.list_page(
        caller, extension_id, page_request(limit, cursor), enabled=enabled, status=status
    )
    return ScheduleList(schedules=[ScheduleOut.of(v) for v in views], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=ScheduleOut)
async def create_schedule(
    extension_id: str, body: JsonBody, caller: Writer, svc: Svc, response: Response
) -> ScheduleOut:
    return _out(await svc.schedules.create(caller, extension_id, body), response)


@router.post("/preview", response_model=PreviewOut, response_model_exclude_none=True)
async def preview(extension_id: str, body: JsonBody, caller: Reader, svc: Svc) -> PreviewOut:
    return PreviewOut.of(await svc.schedules.preview(caller, extension_id, body))


@router.post("/bulk", response_model=BulkOut)
async def bulk(extension_id: str, body: JsonBody, caller: Writer, svc: Svc) -> BulkOut:
    enabled = body.get("enabled") if isinstance(body, dict) else None
    return BulkOut(updated=await svc.schedules.bulk(caller, extension_id, enabled))


@router.get("/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(
    extension_id: str, schedule_id: str, caller: Reader, svc: Svc, response: Response
) -> ScheduleOut:
    return _out(await svc.schedules.get(caller, extension_id, schedule_id), response)


@router.patch("/{schedule_id}", response_model=ScheduleOut)
async def update_schedule(
    extension_id: str,
    schedule_id: str,
    body: JsonBody,
    caller: Writer,
    svc: Svc,
    revision: Revision,
    response: Response,
) -> ScheduleOut:
    view = await svc.schedules.update(caller, extension_id, schedule_id, body, revision)
    return _out(view, response)


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(
    extension_id: str, schedule_id: str, caller: Writer, svc: Svc, revision: Revision
) -> Response:
    await svc.schedules.delete(caller, extension_id, schedule_id, revision)
    return Response(status_code=204)


@router.get("/{schedule_id}/runs", response_model=RunList)
async def runs(
    extension_id: str,
    schedule_id: str,
    caller: Reader,
    svc: Svc,
    limit: Limit = None,
    cursor: Cursor = None,
) -> RunList:
    rows, next_cursor = await svc.schedules.runs(
        caller, extension_id, schedule_id, page_request(limit, cursor)
    )
    return RunList(runs=[RunOut.of(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/{schedule_id}/run-now",
    status_code=202,
    response_model=RunOut,
    responses={200: {"model": RunOut, "description": "an existing run for the same request"}},
)
async def run_now(
    extension_id: str,
    schedule_id: str,
    caller: Writer,
    svc: Svc,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> RunOut:
    run, created = await svc.run_now.run_now(caller, extension_id, schedule_id, idempotency_key)
    if not created:
        response.status_code = 200
    return RunOut.of(run)
