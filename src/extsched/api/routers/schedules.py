"""Schedules of one installed extension (SPEC §4, §5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from extsched.api.body import RequestBody, body_after
from extsched.api.deps import Cursor, Limit, caller_for, etag, if_match, services
from extsched.api.openapi import body_doc, problems
from extsched.api.schemas.base import reply
from extsched.api.schemas.schedules import (
    BulkIn,
    BulkOut,
    PreviewIn,
    PreviewOut,
    RunList,
    RunOut,
    ScheduleCreate,
    ScheduleList,
    ScheduleOut,
    ScheduleUpdate,
)
from extsched.auth import EXTENSION_READ, EXTENSION_WRITE
from extsched.domain.paging import page_request
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.services.schedules import ScheduleView

router = APIRouter(prefix="/api/extensions/{extension_id}/schedules", tags=["schedules"])
read, write = caller_for(EXTENSION_READ), caller_for(EXTENSION_WRITE)
Reader = Annotated[Caller, Depends(read)]
Writer = Annotated[Caller, Depends(write)]
ReaderBody = Annotated[RequestBody, Depends(body_after(read))]
WriterBody = Annotated[RequestBody, Depends(body_after(write))]
Svc = Annotated[Services, Depends(services)]
Revision = Annotated[int | None, Depends(if_match)]


def _schedule(view: ScheduleView, status: int = 200) -> Response:
    return reply(ScheduleOut.of(view), status, headers={"ETag": etag(view.schedule.revision)})


@router.get("", response_model=ScheduleList)
async def list_schedules(
    extension_id: str,
    caller: Reader,
    svc: Svc,
    limit: Limit = None,
    cursor: Cursor = None,
    enabled: Annotated[bool | None, Query()] = None,
    status: Annotated[str | None, Query(description="last run status")] = None,
) -> Response:
    views, next_cursor = await svc.schedules.list_page(
        caller, extension_id, page_request(limit, cursor), enabled=enabled, status=status
    )
    return reply(
        ScheduleList(schedules=[ScheduleOut.of(v) for v in views], next_cursor=next_cursor)
    )


@router.post(
    "",
    status_code=201,
    response_model=ScheduleOut,
    openapi_extra=body_doc(ScheduleCreate),
    responses=problems(409),
)
async def create_schedule(
    extension_id: str, caller: Writer, svc: Svc, body: WriterBody
) -> Response:
    return _schedule(await svc.schedules.create(caller, extension_id, body), 201)


@router.post(
    "/preview",
    response_model=PreviewOut,
    openapi_extra=body_doc(PreviewIn),
    description="Always 200 for a cron or zone that is invalid: `valid` false and `fieldErrors`.",
)
async def preview(extension_id: str, caller: Reader, svc: Svc, body: ReaderBody) -> Response:
    return reply(PreviewOut.of(await svc.previews.preview(caller, extension_id, body)))


@router.post("/bulk", response_model=BulkOut, openapi_extra=body_doc(BulkIn))
async def bulk(extension_id: str, caller: Writer, svc: Svc, body: WriterBody) -> Response:
    return reply(BulkOut(updated=await svc.schedules.bulk(caller, extension_id, body)))


@router.get("/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(extension_id: str, schedule_id: str, caller: Reader, svc: Svc) -> Response:
    return _schedule(await svc.schedules.get(caller, extension_id, schedule_id))


@router.patch(
    "/{schedule_id}",
    response_model=ScheduleOut,
    openapi_extra=body_doc(ScheduleUpdate),
    responses=problems(409),
)
async def update_schedule(
    extension_id: str,
    schedule_id: str,
    caller: Writer,
    svc: Svc,
    revision: Revision,
    body: WriterBody,
) -> Response:
    return _schedule(await svc.schedules.update(caller, extension_id, schedule_id, body, revision))


@router.delete("/{schedule_id}", status_code=204, responses=problems(409))
async def delete_schedule(
    extension_id: str, schedule_id: str, caller: Writer, svc: Svc, revision: Revision
) -> Response:
    await svc.schedules.delete(caller, extension_id, schedule_id, revision)
    return Response(status_code=204)


@router.get("/{schedule_id}/runs", response_model=RunList)
async def list_runs(
    extension_id: str,
    schedule_id: str,
    caller: Reader,
    svc: Svc,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    rows, next_cursor = await svc.schedules.runs(
        caller, extension_id, schedule_id, page_request(limit, cursor)
    )
    return reply(RunList(runs=[RunOut.of(r) for r in rows], next_cursor=next_cursor))


@router.post(
    "/{schedule_id}/run-now",
    status_code=202,
    response_model=RunOut,
    responses={
        200: {"model": RunOut, "description": "An existing run for the same request"},
        **problems(409, 429),
    },
)
async def run_now(
    extension_id: str,
    schedule_id: str,
    caller: Writer,
    svc: Svc,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key", description="1 to 128 characters; a repeat returns the run"
        ),
    ] = None,
) -> Response:
    run, created = await svc.run_now.run_now(caller, extension_id, schedule_id, idempotency_key)
    return reply(RunOut.of(run), 202 if created else 200)
