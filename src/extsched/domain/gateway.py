"""The HTTP gateway's rules (SPEC §10a), pure: what of a request reaches the Runner and what of
the Runner's answer reaches the caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from extsched.domain.invocation import AttemptResult, RunnerCall

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
MAX_BODY_BYTES = 10 * 1024 * 1024
REQUEST_HEADERS = frozenset(
    {"x-request-id", "accept", "content-type", "accept-encoding", "user-agent"}
)
ANSWER_HEADERS = frozenset({"content-type", "cache-control", "etag"})


def runner_method(method: str) -> str:
    """HEAD is answered as GET (without the body)."""
    return "GET" if method == "HEAD" else method


def gateway_call(
    *,
    request_id: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Iterable[tuple[str, str]],
    body: bytes,
    user_id: str,
    user_type: str,
    timeout_ms: int,
) -> RunnerCall:
    """The Runner call for one gateway request. Only allow-listed headers pass (never
    ``authorization`` or cookies); a repeated query name keeps its last value."""
    forwarded: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in REQUEST_HEADERS:
            forwarded[key] = value
    forwarded["x-request-id"] = request_id
    return RunnerCall(
        request_id=request_id,
        idempotency_key=request_id,
        trigger="http",
        method=runner_method(method),
        path=path,
        query=dict(query),
        headers=forwarded,
        body=body or None,
        context={},
        user={"id": user_id, "userType": user_type},
        timeout_ms=timeout_ms,
    )


@dataclass(frozen=True)
class GatewayAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


class RunnerUnusable(Exception):
    """The Runner gave no usable answer; ``timeout`` tells a 504 from a 502."""

    def __init__(self, reason: str, *, timeout: bool) -> None:
        super().__init__(reason)
        self.timeout = timeout


def gateway_answer(result: AttemptResult) -> GatewayAnswer:
    """The extension's own answer (any status it chose), or RunnerUnusable."""
    status = result.http_status
    if status is None or not 200 <= status <= 599:
        reason = result.error or f"the extension answered status {status}"
        raise RunnerUnusable(reason, timeout=result.status == "timeout")
    headers = {k: v for k, v in (result.headers or {}).items() if k in ANSWER_HEADERS}
    return GatewayAnswer(status, headers, result.body or b"")
