"""The scheduler host API's shapes (SPEC §10): a request per operation, told apart by
``operation``, and the answers. They document what ``services.host_api`` checks; the service
judges the raw body so that every invalid field is reported at once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from extsched.api.schemas.base import In, Wire
from extsched.api.schemas.registry import EndpointOut
from extsched.api.schemas.schedules import PAYLOAD_DOC, ScheduleOut

ENDPOINT_DOC = '"METHOD /path", or "/path" when only one of GET and POST exists there'


class ListOp(In):
    operation: Literal["list"]


class GetOp(In):
    operation: Literal["get"]
    schedule_id: str


class GetEndpointsOp(In):
    operation: Literal["getEndpoints"]


class DeleteOp(In):
    operation: Literal["delete"]
    schedule_id: str


class CreateOp(In):
    operation: Literal["create"]
    endpoint: str = Field(description=ENDPOINT_DOC, examples=["POST /sync"])
    cron: str = Field(max_length=128, examples=["0 9 * * 1-5"])
    timezone: str | None = Field(default=None, description="default: the tenant's time zone")
    enabled: bool = True
    name: str | None = None
    payload: dict[str, Any] | list[Any] | None = Field(default=None, description=PAYLOAD_DOC)


class UpdateOp(In):
    """Any subset of the fields; ``name`` and ``payload`` may be null to clear them."""

    operation: Literal["update"]
    schedule_id: str
    endpoint: str | None = Field(default=None, description=ENDPOINT_DOC)
    cron: str | None = Field(default=None, max_length=128)
    timezone: str | None = None
    enabled: bool | None = None
    name: str | None = None
    payload: dict[str, Any] | list[Any] | None = Field(default=None, description=PAYLOAD_DOC)


Operation = Annotated[
    ListOp | GetOp | CreateOp | UpdateOp | DeleteOp | GetEndpointsOp,
    Field(discriminator="operation"),
]


class HostRequest(RootModel[Operation]):
    """One operation on the schedules of the install named in the path."""


class HostSchedules(Wire):
    schedules: list[ScheduleOut]


class HostSchedule(Wire):
    schedule: ScheduleOut


class HostEndpoints(Wire):
    endpoints: list[EndpointOut]


class HostDeleted(Wire):
    deleted: Literal[True]


class HostAnswer(RootModel[HostSchedules | HostSchedule | HostEndpoints | HostDeleted]):
    """``list`` → schedules, ``get``/``update`` → schedule, ``getEndpoints`` → endpoints,
    ``delete`` → deleted (``create`` answers 201 with the schedule)."""
