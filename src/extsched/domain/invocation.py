"""The Runner contract (SPEC §7.3), pure: the /v1/execute request and the reading of its answer."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from extsched.domain.install_config import InstallConfig

ERROR_BODY_CHARS = 500
MAX_ERROR_CHARS = 4000


def compact_json_bytes(value: Any) -> bytes:
    """The payload's compact UTF-8 JSON (no spaces, non-ASCII kept), as validation measured it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class RunnerCall:
    """One call to the Runner apart from the install it runs: what started it and the HTTP request
    the extension's code sees. Scheduled runs and the gateway both come down to this."""

    request_id: str
    idempotency_key: str
    trigger: str  # "schedule" | "run_now" | "http"
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # what the extension sees besides the routing headers
    body: bytes | None
    context: dict[str, Any]  # the trigger's own context fields
    user: dict[str, str] | None
    timeout_ms: int


@dataclass(frozen=True)
class Invocation:
    """One attempt of one run, with everything the Runner is told."""

    run_id: str
    request_id: str
    trigger: str  # "schedule" | "run_now"
    schedule_id: str
    scheduled_for: datetime
    attempt: int
    method: str
    path: str
    payload: Any
    install: InstallConfig
    timeout_ms: int

    def call(self) -> RunnerCall:
        """Never carries an end user; the payload is the body except for GET."""
        scheduled_for = iso_z(self.scheduled_for)
        has_body = self.payload is not None and self.method.upper() != "GET"
        headers = {"x-alga-schedule-id": self.schedule_id, "x-alga-scheduled-for": scheduled_for}
        if has_body:
            headers["content-type"] = "application/json"
        return RunnerCall(
            request_id=self.request_id,
            idempotency_key=self.run_id,  # the same across attempts: the Runner may dedupe
            trigger=self.trigger,
            method=self.method.upper(),
            path=self.path,
            query={},
            headers=headers,
            body=compact_json_bytes(self.payload) if has_body else None,
            context={
                "schedule_id": self.schedule_id,
                "run_id": self.run_id,
                "scheduled_for": scheduled_for,
                "attempt": self.attempt,
            },
            user=None,
            timeout_ms=self.timeout_ms,
        )


def runner_request(
    cfg: InstallConfig, call: RunnerCall, service_token: str | None = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and JSON body of ``POST /v1/execute`` (SPEC §7.3)."""
    http_headers = {
        "x-alga-tenant": cfg.tenant_id,
        "x-alga-extension": cfg.registry_id,
        "x-alga-trigger": call.trigger,
        **call.headers,
    }
    http: dict[str, Any] = {
        "method": call.method,
        "path": call.path,
        "query": dict(call.query),
        "headers": http_headers,
    }
    if call.body is not None:
        http["body_b64"] = base64.b64encode(call.body).decode()
    body: dict[str, Any] = {
        "context": {
            "request_id": call.request_id,
            "tenant_id": cfg.tenant_id,
            "extension_id": cfg.registry_id,
            "install_id": cfg.install_id,
            "version_id": cfg.version_id,
            "content_hash": cfg.content_hash,
            "config": dict(cfg.config),
            "trigger": call.trigger,
            **call.context,
        },
        "http": http,
        "limits": {"timeout_ms": call.timeout_ms},
        "providers": list(cfg.providers),
    }
    if cfg.secret_envelope:
        body["secret_envelope"] = cfg.secret_envelope
    if call.user is not None:
        body["user"] = dict(call.user)
    headers = {
        "content-type": "application/json",
        "x-request-id": call.request_id,
        "x-idempotency-key": call.idempotency_key,
        "x-alga-tenant": cfg.tenant_id,
        "x-alga-extension": cfg.registry_id,
    }
    if service_token:
        headers["x-runner-service-token"] = service_token
    return headers, body


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt ended. ``status`` is the run status it would give if final."""

    ok: bool
    retryable: bool
    status: str  # "success" | "error" | "timeout"
    http_status: int | None
    error: str | None
    body: bytes | None = None
    headers: dict[str, str] | None = None

    @classmethod
    def success(
        cls, http_status: int, body: bytes | None, headers: dict[str, str]
    ) -> AttemptResult:
        return cls(True, False, "success", http_status, None, body, headers)

    @classmethod
    def failure(
        cls, error: str, *, retryable: bool, http_status: int | None = None, status: str = "error"
    ) -> AttemptResult:
        return cls(False, retryable, status, http_status, error[:MAX_ERROR_CHARS])


def _decode_body(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def read_response(http_status: int, raw: bytes) -> AttemptResult:
    """Classify the Runner's answer (the body already size-checked by the client)."""
    if http_status != 200:
        snippet = raw[:ERROR_BODY_CHARS].decode("utf-8", "replace")
        return AttemptResult.failure(
            f"runner answered HTTP {http_status}: {snippet}".rstrip(": "), retryable=True
        )
    if not raw.strip():
        return AttemptResult.failure("runner answered with an empty body", retryable=True)
    try:
        payload = orjson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return AttemptResult.failure("runner answered with a body that is not JSON", retryable=True)
    if not isinstance(payload, dict):
        return AttemptResult.failure(
            "runner answered with JSON that is not an object", retryable=True
        )
    status = payload.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        return AttemptResult.failure("runner response has no numeric status", retryable=True)
    body = _decode_body(payload.get("body_b64"))
    raw_headers = payload.get("headers")
    headers = (
        {str(k).lower(): str(v) for k, v in raw_headers.items()}
        if isinstance(raw_headers, dict)
        else {}
    )
    if 200 <= status < 300:
        return AttemptResult.success(status, body, headers)
    detail = (body or b"")[: ERROR_BODY_CHARS * 4].decode("utf-8", "replace")[:ERROR_BODY_CHARS]
    runner_error = payload.get("error")
    if not detail and isinstance(runner_error, str | dict):
        detail = str(runner_error)[:ERROR_BODY_CHARS]
    message = f"extension answered {status}" + (f": {detail}" if detail else "")
    # The extension's own answer is kept: the gateway passes it on as it is.
    return AttemptResult(
        False, status >= 500, "error", status, message[:MAX_ERROR_CHARS], body, headers
    )
