"""One root error and one class per failure mode, each with a stable code and HTTP status.

Handlers at the edge turn these into RFC 9457 problem documents; nothing else needs to know HTTP.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ExtschedError(Exception):
    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        field_errors: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.field_errors = field_errors
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.detail)


class Unauthenticated(ExtschedError):
    code = "UNAUTHENTICATED"
    status = 401
    title = "Authentication required"


class Forbidden(ExtschedError):
    code = "FORBIDDEN"
    status = 403
    title = "Forbidden"


class NotFound(ExtschedError):
    code = "NOT_FOUND"
    status = 404
    title = "Not found"


class ExtensionNotInstalled(NotFound):
    code = "EXTENSION_NOT_INSTALLED"
    title = "Extension not installed"


class ScheduleNotFound(NotFound):
    code = "SCHEDULE_NOT_FOUND"
    title = "Schedule not found"


class RegistryNotFound(NotFound):
    code = "EXTENSION_NOT_FOUND"
    title = "Extension not found in the registry"


class VersionNotFound(NotFound):
    code = "VERSION_NOT_FOUND"
    title = "Extension version not found"


class ValidationFailed(ExtschedError):
    code = "VALIDATION_FAILED"
    status = 422
    title = "Validation failed"


class InvalidManifest(ExtschedError):
    code = "INVALID_MANIFEST"
    status = 400
    title = "Invalid manifest"


class Conflict(ExtschedError):
    code = "CONFLICT"
    status = 409
    title = "Conflict"


class NameTaken(Conflict):
    code = "NAME_TAKEN"
    title = "Name already taken"


class QuotaExceeded(Conflict):
    code = "QUOTA_EXCEEDED"
    title = "Quota exceeded"


class RevisionConflict(Conflict):
    code = "REVISION_CONFLICT"
    title = "Revision conflict"


class ScheduleRemapFailed(Conflict):
    code = "SCHEDULE_REMAP_FAILED"
    title = "Schedules cannot be remapped to the target version"


class ExtensionDisabled(Conflict):
    code = "EXTENSION_DISABLED"
    title = "Extension is disabled"


class SchedulesPaused(Conflict):
    code = "SCHEDULES_PAUSED"
    title = "Schedules are paused for this tenant"


class VersionInUse(Conflict):
    code = "VERSION_IN_USE"
    title = "Version in use"


class AlreadyExists(Conflict):
    code = "ALREADY_EXISTS"
    title = "Already exists"


class PayloadTooLarge(ExtschedError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413
    title = "Request body too large"


class RateLimited(ExtschedError):
    code = "RATE_LIMITED"
    status = 429
    title = "Too many requests"


class StoreUnavailable(Exception):
    """The database could not answer; callers that must fail closed say so."""


class ConfigError(Exception):
    """The process settings are unusable; raised at start-up, naming the variable."""


class EndpointNotFound(NotFound):
    code = "ENDPOINT_NOT_FOUND"
    title = "Endpoint not found"


class BadGateway(ExtschedError):
    code = "BAD_GATEWAY"
    status = 502
    title = "The extension's Runner did not answer usably"


class GatewayTimeout(ExtschedError):
    code = "GATEWAY_TIMEOUT"
    status = 504
    title = "The extension's Runner did not answer in time"
