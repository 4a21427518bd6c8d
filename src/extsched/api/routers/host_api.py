"""The scheduler host API route (SPEC §10), called by the Runner for an extension's code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from extsched.api.body import RequestBody, body_after
from extsched.api.deps import services
from extsched.api.openapi import body_doc, problems
from extsched.api.schemas.base import reply
from extsched.api.schemas.host_api import (
    HostAnswer,
    HostDeleted,
    HostEndpoints,
    HostRequest,
    HostSchedule,
    HostSchedules,
)
from extsched.api.schemas.registry import EndpointOut
from extsched.api.schemas.schedules import ScheduleOut
from extsched.auth import runner_token_matches
from extsched.errors import Unauthenticated
from extsched.services.container import Services
from extsched.services.host_api import HostAnswer as Answer

router = APIRouter(prefix="/api/internal/ext-scheduler", tags=["host API"])


async def runner_auth(request: Request) -> None:
    """``x-runner-auth`` equal to ``RUNNER_SERVICE_TOKEN`` (no token configured refuses all)."""
    settings = services(request).settings
    if not runner_token_matches(
        settings.runner_service_token,
        request.headers.get("x-runner-auth"),
        production=settings.env == "production",
    ):
        raise Unauthenticated("x-runner-auth is missing or does not match the Runner token")


Body = Annotated[RequestBody, Depends(body_after(runner_auth))]
Svc = Annotated[Services, Depends(services)]


def _render(answer: Answer) -> Response:
    if answer.schedules is not None:
        shape: HostSchedules | HostSchedule | HostEndpoints | HostDeleted = HostSchedules(
            schedules=[ScheduleOut.of(v) for v in answer.schedules]
        )
    elif answer.schedule is not None:
        shape = HostSchedule(schedule=ScheduleOut.of(answer.schedule))
    elif answer.endpoints is not None:
        shape = HostEndpoints(endpoints=[EndpointOut.of(v) for v in answer.endpoints])
    else:
        shape = HostDeleted(deleted=True)
    return reply(shape, answer.status)


@router.post(
    "/install/{install_id}",
    response_model=HostAnswer,
    responses={201: {"model": HostSchedule, "description": "Created"}, **problems(409, 429)},
    openapi_extra=body_doc(HostRequest),
    description="Checks `x-runner-auth`, then that the install exists and is enabled, then its "
    "`cap:scheduler.manage`, then the mutation rate (10 create/update/delete per install per "
    "minute), then the operation. Audit entries name the actor `extension:{registryId}`.",
)
async def host_api(install_id: str, svc: Svc, body: Body) -> Response:
    return _render(await svc.host_api.handle(install_id, body))
