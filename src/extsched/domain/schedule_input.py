"""A schedule's fields as a request gives them (camelCase JSON), checked all at once (SPEC §5).

Pure: the service looks up what the rules need (the endpoints named, the tenant's default time
zone) and passes them in; every broken rule is reported in one ValidationFailed, by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from extsched.domain import cron as cron_rules
from extsched.domain import schedule_rules as rules
from extsched.domain.endpoints import unschedulable_reason
from extsched.domain.json_rules import unknown_keys
from extsched.domain.records import Endpoint, Install, Schedule
from extsched.errors import ValidationFailed

WRITABLE = (
    "endpointId",
    "cron",
    "timezone",
    "enabled",
    "name",
    "payloadJson",
    "maxAttempts",
    "jitterSeconds",
)
# Output-only fields a client may echo back from a GET; they are ignored, not refused.
READ_ONLY = frozenset(
    {
        "id",
        "installId",
        "endpointMethod",
        "endpointPath",
        "cronDescription",
        "disabledReason",
        "nextRunAt",
        "lastRunAt",
        "lastRunStatus",
        "lastError",
        "lastSuccessAt",
        "consecutiveFailures",
        "revision",
        "createdAt",
        "updatedAt",
    }
)
ACCEPTED = frozenset(WRITABLE) | READ_ONLY


def endpoint_problem(install: Install, endpoint: Endpoint | None) -> str | None:
    """Why ``endpoint`` cannot be a schedule's endpoint in ``install``, or None."""
    if endpoint is None or endpoint.version_id != install.version_id:
        return "endpoint is not part of the installed version"
    reason = unschedulable_reason(endpoint.method, endpoint.path)
    return f"endpoint cannot be scheduled: {reason}" if reason else None


@dataclass(frozen=True)
class Checked:
    """The columns the request sets, by their column names, and the endpoint the schedule will
    have (for its representation)."""

    values: dict[str, Any]
    endpoint: Endpoint | None


def check(
    body: Any,
    *,
    install: Install,
    current: Schedule | None,
    named_endpoint: Endpoint | None,
    current_endpoint: Endpoint | None,
    default_timezone: str | None,
) -> Checked:
    """The new field values of a create (``current`` None) or an update, or ValidationFailed
    listing every broken rule. ``named_endpoint`` is the endpoint ``endpointId`` names (None if
    it names none that exists); ``current_endpoint`` the schedule's present one;
    ``default_timezone`` the zone of a create that names none (the tenant's)."""
    errors = unknown_keys(body, ACCEPTED)
    values: dict[str, Any] = {}
    creating = current is None

    endpoint = current_endpoint
    if "endpointId" in body or creating:
        endpoint = named_endpoint
        raw = body.get("endpointId")
        problem = (
            "endpointId is required"
            if not isinstance(raw, str) or not raw
            else endpoint_problem(install, named_endpoint)
        )
        if problem:
            errors["endpointId"] = problem
        else:
            values["endpoint_id"] = raw

    if "cron" in body or creating:
        try:
            values["cron"] = cron_rules.validate(body.get("cron")).expr
        except cron_rules.CronInvalid as exc:
            errors["cron"] = str(exc)

    if "timezone" in body or creating:
        raw_tz = body.get("timezone")
        if raw_tz is None and creating:
            raw_tz = default_timezone
        try:
            values["timezone"] = rules.canonical_timezone(raw_tz)
        except rules.RuleViolation as exc:
            errors["timezone"] = str(exc)

    for field, column, checker in (
        ("enabled", "enabled", lambda v: rules.check_bool(v, "enabled")),
        ("name", "name", rules.normalize_name),
        (
            "maxAttempts",
            "max_attempts",
            lambda v: rules.check_int(v, "maxAttempts", rules.MAX_ATTEMPTS_RANGE),
        ),
        (
            "jitterSeconds",
            "jitter_seconds",
            lambda v: rules.check_int(v, "jitterSeconds", rules.JITTER_RANGE),
        ),
    ):
        if field in body:
            try:
                values[column] = checker(body[field])
            except rules.RuleViolation as exc:
                errors[field] = str(exc)

    if "payloadJson" in body or "endpointId" in body:
        payload = (
            body.get("payloadJson") if "payloadJson" in body else current and current.payload_json
        )
        try:
            rules.check_payload(payload, endpoint.method if endpoint else None)
            if "payloadJson" in body:
                values["payload_json"] = payload
        except rules.RuleViolation as exc:
            errors["payloadJson"] = str(exc)

    if (
        current is not None
        and values.get("enabled") is True
        and not current.enabled
        and "endpoint_id" not in values
        and "endpointId" not in errors
    ):
        # Re-enabling must not revive a schedule whose endpoint left the installed version.
        problem = endpoint_problem(install, current_endpoint)
        if problem:
            errors["endpointId"] = problem

    if errors:
        raise ValidationFailed("the schedule is invalid", field_errors=errors)
    if values.get("enabled") is True or "endpoint_id" in values:
        values["disabled_reason"] = None
    return Checked(values, endpoint)


def audit_fields(s: Schedule) -> dict[str, Any]:
    """The fields an audit entry compares, by their wire names."""
    return {
        "endpointId": s.endpoint_id,
        "name": s.name,
        "cron": s.cron,
        "timezone": s.timezone,
        "enabled": s.enabled,
        "payloadJson": s.payload_json,
        "maxAttempts": s.max_attempts,
        "jitterSeconds": s.jitter_seconds,
        "disabledReason": s.disabled_reason,
    }
