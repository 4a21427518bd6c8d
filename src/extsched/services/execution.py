"""One attempt of a run: the checks, the Runner request, the call, and its outcome.

No database work here: the context was read before, the outcome is written after, and the call
waits with no transaction open (SPEC §7.2).
"""

from __future__ import annotations

import contextlib
import logging

from extsched.clock import Clock
from extsched.domain.install_config import install_config
from extsched.domain.invocation import AttemptResult, Invocation
from extsched.domain.runs import Outcome, RunContext, decide, precheck, request_id
from extsched.metrics import Metrics
from extsched.runner_client import RunnerClient
from extsched.secret_box import SecretBox, SecretsUnreadable

log = logging.getLogger(__name__)


class Attempts:
    def __init__(
        self,
        clock: Clock,
        client: RunnerClient,
        box: SecretBox,
        metrics: Metrics,
        *,
        timeout_ms: int = 30_000,
    ) -> None:
        self.clock = clock
        self.client = client
        self.box = box
        self.metrics = metrics
        self.timeout_ms = timeout_ms

    def invocation(self, ctx: RunContext, attempt: int) -> Invocation:
        """What the Runner is told for attempt ``attempt`` (a context that passed ``precheck``).
        SecretsUnreadable when no configured key opens the install's secrets."""
        run, inst, content_hash = ctx.run, ctx.install, ctx.content_hash
        assert ctx.schedule and inst and content_hash is not None and ctx.endpoint
        return Invocation(
            run_id=run.id,
            request_id=request_id(run, attempt),
            trigger=run.trigger,
            schedule_id=run.schedule_id,
            scheduled_for=run.scheduled_for,
            attempt=attempt,
            method=ctx.endpoint.method,
            path=ctx.endpoint.path,
            payload=ctx.schedule.payload_json,
            install=install_config(inst, content_hash, self.box.open(inst.secret_envelope)),
            timeout_ms=self.timeout_ms,
        )

    def prepare_request(self, ctx: RunContext) -> None:
        """Build the request of the run's next attempt now, while it waits for its fire time.
        ``run`` uses it only if the context is still the one it was built from."""
        if precheck(ctx) is not None:
            return
        attempt = ctx.run.attempt + 1
        with contextlib.suppress(ValueError, SecretsUnreadable):  # ``run`` records why
            ctx.prepared_request = (attempt, self.client.encode(self.invocation(ctx, attempt)))

    async def run(self, ctx: RunContext) -> Outcome:
        blocked = precheck(ctx)
        if blocked is not None:
            return blocked
        run = ctx.run
        started = self.clock.now()
        if run.attempt == 1:
            self.metrics.fire_lag.observe(max(0.0, (started - run.scheduled_for).total_seconds()))
        result = await self._call(ctx)
        finished = self.clock.now()
        self.metrics.attempt_duration.observe((finished - started).total_seconds())
        outcome = decide(ctx, result, started, finished)
        if not result.ok:
            self._log_failure(ctx, result)
        return outcome

    async def _call(self, ctx: RunContext) -> AttemptResult:
        attempt = ctx.run.attempt
        if ctx.prepared_request is not None and ctx.prepared_request[0] == attempt:
            return await self.client.send(ctx.prepared_request[1], self.timeout_ms)
        try:
            invocation = self.invocation(ctx, attempt)
        except SecretsUnreadable as exc:
            return AttemptResult.failure(str(exc), retryable=False)
        return await self.client.execute(invocation)

    @staticmethod
    def _log_failure(ctx: RunContext, result: AttemptResult) -> None:
        run = ctx.run
        log.info(
            "attempt %s of %s failed: %s",
            run.attempt,
            run.max_attempts,
            result.error,
            extra={
                "tenant_id": run.tenant_id,
                "schedule_id": run.schedule_id,
                "run_id": run.id,
                "request_id": request_id(run, run.attempt),
            },
        )
