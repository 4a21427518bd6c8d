"""The HTTP gateway (SPEC §10a): a tenant's request to an installed extension's endpoint, through
the Runner client and timeout that scheduled runs use.

Checks run in the order SPEC fixes: the route's credential and permission, then here the install
(exists and enabled), the endpoint, (the route's body limit), and the rate; a refused call never
reaches the Runner. Each call is measured and logged with tenant, extension, path, status and
duration; never its body.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from extsched.clock import Clock
from extsched.domain.endpoints import match_endpoint
from extsched.domain.gateway import (
    GatewayAnswer,
    RunnerUnusable,
    gateway_answer,
    gateway_call,
    runner_method,
)
from extsched.domain.install_config import install_config
from extsched.domain.invocation import AttemptResult, RunnerCall
from extsched.domain.records import Install, Version
from extsched.domain.token_bucket import Buckets
from extsched.errors import BadGateway, EndpointNotFound, GatewayTimeout, RateLimited
from extsched.ids import new_id
from extsched.metrics import Metrics
from extsched.runner_client import RunnerClient
from extsched.secret_box import SecretBox, SecretsUnreadable
from extsched.services.caller import Caller
from extsched.services.installs import not_installed, resolve_install
from extsched.store.db import Database
from extsched.store.registry_repo import RegistryRepo

log = logging.getLogger(__name__)

# A caller's own request id is passed on when it is one an operator can search logs for.
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass(frozen=True)
class GatewayTarget:
    install: Install
    version: Version


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Sequence[tuple[str, str]]
    body: bytes
    user_type: str


class GatewayService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        client: RunnerClient,
        box: SecretBox,
        metrics: Metrics,
        *,
        timeout_ms: int,
        burst: int,
        per_second: float,
    ) -> None:
        self.db = db
        self.clock = clock
        self.client = client
        self.box = box
        self.metrics = metrics
        self.timeout_ms = timeout_ms
        # Per process: each process admits its own burst (SPEC §10a's bucket, one per process).
        self.buckets = Buckets(burst, per_second)

    async def target(
        self, caller: Caller, extension_id: str, method: str, path: str
    ) -> GatewayTarget:
        """The install (404 ``EXTENSION_NOT_INSTALLED`` unless enabled) and its version, once an
        endpoint of that version serves ``method path`` (else 404 ``ENDPOINT_NOT_FOUND``)."""
        async with self.db.connect() as conn:
            install = await resolve_install(conn, caller.tenant_id, extension_id)
            if not install.enabled:
                raise not_installed(extension_id)
            registry = RegistryRepo(conn)
            version = await registry.get_version(install.version_id)
            assert version is not None, "an install always pins an existing version"
            endpoints = await registry.list_endpoints(install.version_id)
        if match_endpoint(endpoints, runner_method(method), path) is None:
            raise EndpointNotFound(f"the extension has no endpoint {method} {path}")
        return GatewayTarget(install, version)

    async def call(
        self, caller: Caller, target: GatewayTarget, request: GatewayRequest
    ) -> GatewayAnswer:
        install = target.install
        wait = self.buckets.take((caller.tenant_id, install.id), self.clock.now().timestamp())
        if wait > 0:
            self.metrics.gateway_requests.labels(status="429").inc()
            raise RateLimited(
                "too many gateway calls to this extension; slow down",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        given = next((v for k, v in request.headers if k.lower() == "x-request-id"), "")
        request_id = given if _REQUEST_ID.fullmatch(given) else new_id()
        call = gateway_call(
            request_id=request_id,
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            user_id=caller.actor,
            user_type=request.user_type,
            timeout_ms=self.timeout_ms,
        )
        started = time.perf_counter()
        result = await self._send(install, target.version, call)
        elapsed = time.perf_counter() - started
        self.metrics.gateway_duration.observe(elapsed)
        try:
            answer = gateway_answer(result)
        except RunnerUnusable as exc:
            failure: BadGateway | GatewayTimeout = (
                GatewayTimeout(str(exc)) if exc.timeout else BadGateway(str(exc))
            )
            self._record(caller, install, request, failure.status, elapsed, request_id, str(exc))
            raise failure from None
        self._record(caller, install, request, answer.status, elapsed, request_id, None)
        return answer

    async def _send(self, install: Install, version: Version, call: RunnerCall) -> AttemptResult:
        try:
            cfg = install_config(
                install, version.content_hash, self.box.open(install.secret_envelope)
            )
            encoded = self.client.encode_call(cfg, call)
        except (SecretsUnreadable, ValueError) as exc:
            return AttemptResult.failure(f"request not sendable: {exc}", retryable=False)
        return await self.client.send(encoded, call.timeout_ms)

    def _record(
        self,
        caller: Caller,
        install: Install,
        request: GatewayRequest,
        status: int,
        elapsed: float,
        request_id: str,
        error: str | None,
    ) -> None:
        self.metrics.gateway_requests.labels(status=str(status)).inc()
        log.info(
            "gateway %s %s answered %s in %.0f ms%s",
            request.method,
            request.path,
            status,
            elapsed * 1000,
            f": {error}" if error else "",
            extra={
                "tenant_id": caller.tenant_id,
                "extension_id": install.registry_id,
                "install_id": install.id,
                "request_id": request_id,
            },
        )
