"""Schedule shapes: create, update, preview, bulk, runs (SPEC §4, §5).

The request shapes document what the schedule service validates; the service itself checks the
raw body (after its lookups) so that every invalid field is reported at once, with rule messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from extsched.api.schemas.base import In, Wire, rfc3339
from extsched.domain import schedule_rules as rules
from extsched.domain.cron import describe
from extsched.domain.preview import Preview
from extsched.domain.records import Run
from extsched.services.schedules import ScheduleView

Payload = dict[str, Any] | list[Any] | None
PAYLOAD_DOC = (
    "A JSON object or array sent as the request body (never for GET endpoints); at most 100,000 "
    "characters as compact JSON, no credential-like keys (use install secrets)"
)


class _ScheduleFields(In):
    # Output-only fields of a schedule sent back from a GET are ignored, not refused.
    model_config = ConfigDict(alias_generator=to_camel, extra="allow", strict=True)


class ScheduleCreate(_ScheduleFields):
    endpoint_id: str = Field(description="A schedulable endpoint of the installed version")
    cron: str = Field(
        max_length=128,
        description="Five fields; no more often than every 5 minutes",
        examples=["0 9 * * 1-5"],
    )
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA key; default: the tenant's time zone"
    )
    enabled: bool = True
    name: str | None = Field(default=None, max_length=rules.MAX_NAME_LENGTH)
    payload_json: Payload = Field(default=None, description=PAYLOAD_DOC)
    max_attempts: int = Field(default=rules.DEFAULT_MAX_ATTEMPTS, ge=1, le=5)
    jitter_seconds: int = Field(default=rules.DEFAULT_JITTER_SECONDS, ge=0, le=300)


class ScheduleUpdate(_ScheduleFields):
    """Any subset of the fields; ``name`` and ``payloadJson`` may be null to clear them."""

    endpoint_id: str | None = None
    cron: str | None = Field(default=None, max_length=128)
    timezone: str | None = Field(default=None, max_length=64)
    enabled: bool | None = None
    name: str | None = Field(default=None, max_length=rules.MAX_NAME_LENGTH)
    payload_json: Payload = Field(default=None, description=PAYLOAD_DOC)
    max_attempts: int | None = Field(default=None, ge=1, le=5)
    jitter_seconds: int | None = Field(default=None, ge=0, le=300)


class PreviewIn(In):
    cron: str = Field(max_length=128)
    timezone: str | None = Field(default=None, description="default: the tenant's time zone")
    count: int = Field(default=5, ge=1, le=50, description="how many occurrences")


class BulkIn(In):
    enabled: bool


class ScheduleOut(Wire):
    id: str
    install_id: str
    endpoint_id: str
    endpoint_method: str | None
    endpoint_path: str | None
    name: str | None
    cron: str
    cron_description: str
    timezone: str
    enabled: bool
    payload_json: Payload
    disabled_reason: str | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_run_status: str | None
    last_error: str | None
    last_success_at: datetime | None
    consecutive_failures: int
    max_attempts: int
    jitter_seconds: int
    revision: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, v: ScheduleView) -> ScheduleOut:
        s, e = v.schedule, v.endpoint
        # Built without validation: the values come from the store, and a stored payload is
        # returned as it is however deep it nests.
        return cls.model_construct(
            id=s.id,
            install_id=s.install_id,
            endpoint_id=s.endpoint_id,
            endpoint_method=e.method if e else None,
            endpoint_path=e.path if e else None,
            name=s.name,
            cron=s.cron,
            cron_description=describe(s.cron),
            timezone=s.timezone,
            enabled=s.enabled,
            payload_json=s.payload_json,
            disabled_reason=s.disabled_reason,
            next_run_at=v.next_run_at,
            last_run_at=s.last_run_at,
            last_run_status=s.last_run_status,
            last_error=s.last_error,
            last_success_at=s.last_success_at,
            consecutive_failures=s.consecutive_failures,
            max_attempts=s.max_attempts,
            jitter_seconds=s.jitter_seconds,
            revision=s.revision,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class ScheduleList(Wire):
    schedules: list[ScheduleOut]
    next_cursor: str | None


class RunOut(Wire):
    id: str
    schedule_id: str
    trigger: str
    scheduled_for: datetime
    status: str
    skip_reason: str | None
    attempt: int
    max_attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    http_status: int | None
    error: str | None
    request_id: str | None

    @classmethod
    def of(cls, r: Run) -> RunOut:
        return cls(
            id=r.id,
            schedule_id=r.schedule_id,
            trigger=r.trigger,
            scheduled_for=r.scheduled_for,
            status=r.status,
            skip_reason=r.skip_reason,
            attempt=r.attempt,
            max_attempts=r.max_attempts,
            started_at=r.started_at,
            finished_at=r.finished_at,
            duration_ms=r.duration_ms,
            http_status=r.http_status,
            error=r.error,
            request_id=r.request_id,
        )


class RunList(Wire):
    runs: list[RunOut]
    next_cursor: str | None


class OccurrenceOut(Wire):
    utc: str = Field(description="RFC 3339 in UTC", examples=["2027-03-14T07:00:00Z"])
    local: str = Field(
        description="RFC 3339 with the zone's offset", examples=["2027-03-14T03:00:00-04:00"]
    )


class PreviewOut(Wire):
    valid: bool
    field_errors: dict[str, str] | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Present when the expression or zone is invalid",
    )
    description: str | None = Field(
        description="The expression in words; null when the expression itself is invalid"
    )
    occurrences: list[OccurrenceOut]

    @classmethod
    def of(cls, p: Preview) -> PreviewOut:
        return cls(
            valid=p.valid,
            field_errors=p.field_errors or None,
            description=p.description,
            occurrences=[
                OccurrenceOut(utc=rfc3339(o.utc), local=o.local.isoformat(timespec="seconds"))
                for o in p.occurrences
            ],
        )


class BulkOut(Wire):
    updated: int
