"""A cron expression and zone tried without saving (SPEC §4 preview), pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from extsched.domain import cron as cron_rules
from extsched.domain import schedule_rules as rules
from extsched.domain.json_rules import unknown_keys
from extsched.errors import ValidationFailed

FIELDS = ("cron", "timezone", "count")
MAX_COUNT = 50
DEFAULT_COUNT = 5


@dataclass(frozen=True)
class Occurrence:
    utc: datetime
    local: datetime


@dataclass(frozen=True)
class Preview:
    valid: bool
    field_errors: dict[str, str]
    description: str | None
    occurrences: list[Occurrence]


@dataclass(frozen=True)
class PreviewRequest:
    cron: Any
    timezone: Any  # None: the tenant's default zone
    count: int


def read_request(body: Any) -> PreviewRequest:
    """ValidationFailed for a request that cannot be previewed at all; a bad expression or zone
    is not that: it is the preview's answer."""
    errors = unknown_keys(body, FIELDS)
    count = body.get("count", DEFAULT_COUNT)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        errors["count"] = f"count must be a whole number from 1 to {MAX_COUNT}"
    if errors:
        raise ValidationFailed("the preview request is invalid", field_errors=errors)
    return PreviewRequest(body.get("cron"), body.get("timezone"), count)


def preview(raw_cron: Any, raw_tz: Any, now: datetime, count: int) -> Preview:
    errors: dict[str, str] = {}
    expr = tz = None
    try:
        expr = cron_rules.validate(raw_cron).expr
    except cron_rules.CronInvalid as exc:
        errors["cron"] = str(exc)
    try:
        tz = rules.canonical_timezone(raw_tz)
    except rules.RuleViolation as exc:
        errors["timezone"] = str(exc)
    description = cron_rules.describe(expr) if expr else None
    if errors or expr is None or tz is None:
        return Preview(False, errors, description, [])
    zone = ZoneInfo(tz)
    found = cron_rules.occurrences(expr, tz, now, count)
    return Preview(
        True, {}, description, [Occurrence(utc=o, local=o.astimezone(zone)) for o in found]
    )
