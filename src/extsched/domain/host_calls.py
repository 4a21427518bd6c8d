"""The scheduler host API's requests (SPEC §10), pure: reading a call, naming an endpoint by
``"METHOD /path"``, and translating between this API's field names and the admin API's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from extsched.domain.endpoints import normalize_method, normalize_path, unschedulable_reason

OPERATIONS = ("list", "get", "create", "update", "delete", "getEndpoints")
MUTATIONS = frozenset({"create", "update", "delete"})
NEEDS_SCHEDULE = frozenset({"get", "update", "delete"})
SCHEDULER_CAPABILITY = "cap:scheduler.manage"
# This API's schedule fields and the admin API's names for them.
TO_ADMIN = {
    "endpoint": "endpointId",
    "cron": "cron",
    "timezone": "timezone",
    "enabled": "enabled",
    "name": "name",
    "payload": "payloadJson",
}
TO_HOST = {admin: host for host, admin in TO_ADMIN.items()}


class EndpointLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...


@dataclass(frozen=True)
class HostCall:
    operation: str
    schedule_id: str | None
    fields: dict[str, Any]  # schedule fields by this API's names, as given
    errors: dict[str, str] = field(default_factory=dict)


def read_call(raw: Any) -> HostCall:
    """The call a body makes; ``errors`` holds what is wrong with its shape (an unknown operation
    or field, a missing ``scheduleId``), by this API's field names."""
    if not isinstance(raw, dict):
        return HostCall("", None, {}, {"body": "the body must be a JSON object"})
    errors: dict[str, str] = {}
    operation = raw.get("operation")
    if operation not in OPERATIONS:
        errors["operation"] = f"operation must be one of {', '.join(OPERATIONS)}"
        operation = ""
    schedule_id = raw.get("scheduleId")
    if operation in NEEDS_SCHEDULE and not (isinstance(schedule_id, str) and schedule_id):
        errors["scheduleId"] = f"scheduleId is required for {operation}"
    for key in raw:
        if key not in TO_ADMIN and key not in ("operation", "scheduleId"):
            errors[str(key)] = "unknown field"
    fields = {k: v for k, v in raw.items() if k in TO_ADMIN}
    sid = schedule_id if isinstance(schedule_id, str) else None
    return HostCall(str(operation), sid, fields, errors)


def find_endpoint(ref: Any, endpoints: Sequence[EndpointLike]) -> tuple[str | None, str | None]:
    """The id of the schedulable endpoint ``ref`` names (``"METHOD /path"`` or ``"/path"``), or
    why there is none."""
    if not isinstance(ref, str) or not ref.strip():
        return None, 'endpoint must be "METHOD /path" or "/path"'
    method, _, path = ref.strip().rpartition(" ")
    method, path = normalize_method(method), normalize_path(path)
    candidates = [e for e in endpoints if e.path == path and (not method or e.method == method)]
    if not method:
        candidates = [e for e in candidates if e.method in ("GET", "POST")]
        if len(candidates) > 1:
            return None, f'both GET and POST {path} exist: say which, e.g. "POST {path}"'
    if not candidates:
        named = f"{method} {path}" if method else path
        return None, f"the installed version has no endpoint {named}"
    endpoint = candidates[0]
    reason = unschedulable_reason(endpoint.method, endpoint.path)
    if reason is not None:
        return None, f"{endpoint.method} {endpoint.path} cannot be scheduled: {reason}"
    return endpoint.id, None


def admin_body(fields: dict[str, Any], endpoint_id: str | None) -> dict[str, Any]:
    """The admin API's body for these fields (``endpoint`` replaced by the id it names)."""
    body = {TO_ADMIN[k]: v for k, v in fields.items() if k != "endpoint"}
    if "endpoint" in fields:
        body["endpointId"] = endpoint_id
    return body


def host_errors(admin_errors: dict[str, str]) -> dict[str, str]:
    """The admin API's field errors under this API's field names."""
    return {TO_HOST.get(k, k): v for k, v in admin_errors.items()}
