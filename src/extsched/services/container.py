"""The services of one process, built once by the app's lifespan or the CLI."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from extsched.auth import Authenticator
from extsched.backends.base import JobRunner
from extsched.backends.embedded.engine import EmbeddedEngine
from extsched.backends.embedded.job_runner import EmbeddedJobRunner
from extsched.backends.embedded.worker import LEASE_MARGIN
from extsched.clock import Clock
from extsched.config import Settings
from extsched.errors import ConfigError
from extsched.loops import Failures, Supervisor
from extsched.metrics import Metrics
from extsched.runner_client import RunnerClient
from extsched.secret_box import SecretBox
from extsched.services.admin import AdminService
from extsched.services.execution import Attempts
from extsched.services.gateway import GatewayService
from extsched.services.host_api import HostApiService
from extsched.services.installs import InstallService
from extsched.services.lifecycle import LifecycleService
from extsched.services.observer import Observer
from extsched.services.pipeline import RunPipeline
from extsched.services.previews import PreviewService
from extsched.services.reconcile import Reconciler
from extsched.services.registry import RegistryService
from extsched.services.run_now import RunNowService
from extsched.services.schedules import ScheduleService
from extsched.services.settlement import Settlement
from extsched.services.sync import SyncService
from extsched.services.tenants import TenantService
from extsched.store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    authenticator: Authenticator
    registry: RegistryService
    installs: InstallService
    tenants: TenantService
    backend: JobRunner
    sync: SyncService
    schedules: ScheduleService
    previews: PreviewService
    run_now: RunNowService
    metrics: Metrics
    runner_client: RunnerClient
    pipeline: RunPipeline
    engine: EmbeddedEngine | None
    lifecycle: LifecycleService
    reconciler: Reconciler
    admin: AdminService
    observer: Observer
    loops: Supervisor
    gateway: GatewayService
    host_api: HostApiService

    @classmethod
    def build(
        cls, settings: Settings, db: Database, clock: Clock, backend: JobRunner | None = None
    ) -> Services:
        """Wire one process. ``backend`` replaces the configured one (tests pass a memory one)."""
        metrics = Metrics()
        client = RunnerClient(
            settings.runner_base_url,
            service_token=settings.runner_service_token,
            max_response_bytes=settings.runner_max_response_bytes,
        )
        embedded: EmbeddedJobRunner | None = None
        if backend is None:
            if settings.backend != "embedded":
                raise ConfigError(
                    "EXTSCHED_BACKEND: the temporal backend is connected by open_backend()"
                )
            backend = embedded = EmbeddedJobRunner(db, clock)
        sync = SyncService(db, backend, clock)
        box = SecretBox(settings.secret_keys)
        pipeline = RunPipeline(
            db,
            clock,
            Attempts(clock, client, box, metrics, timeout_ms=settings.gateway_timeout_ms),
            Settlement(sync, metrics, auto_disable_after=settings.auto_disable_after_failures),
            metrics,
        )
        engine = None
        if embedded is not None:
            embedded.attach(pipeline)
            engine = EmbeddedEngine(
                db,
                clock,
                embedded,
                pipeline,
                catchup_window=timedelta(seconds=settings.catchup_window_seconds),
                call_timeout=timedelta(milliseconds=settings.gateway_timeout_ms),
                concurrency=settings.worker_concurrency,
            )
        loops = Supervisor(metrics)
        installs = InstallService(db, clock, sync, box)
        tenants = TenantService(db, clock, sync)
        schedules = ScheduleService(
            db,
            clock,
            sync,
            max_per_install=settings.max_schedules_per_install,
            max_per_tenant=settings.max_schedules_per_tenant,
        )
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            authenticator=Authenticator(
                secret=settings.effective_jwt_secret, jwks_url=settings.jwks_url
            ),
            registry=RegistryService(db, clock),
            installs=installs,
            tenants=tenants,
            backend=backend,
            sync=sync,
            schedules=schedules,
            previews=PreviewService(db, clock),
            run_now=RunNowService(db, clock, backend),
            metrics=metrics,
            runner_client=client,
            pipeline=pipeline,
            engine=engine,
            lifecycle=LifecycleService(db, clock, installs, sync, backend),
            reconciler=Reconciler(db, backend),
            admin=AdminService(db, clock, sync, tenants),
            observer=Observer(db, backend, clock, metrics, loops),
            loops=loops,
            gateway=GatewayService(
                db,
                clock,
                client,
                box,
                metrics,
                timeout_ms=settings.gateway_timeout_ms,
                burst=settings.gateway_rate_burst,
                per_second=settings.gateway_rate_per_second,
            ),
            host_api=HostApiService(db, clock, schedules, installs),
        )

    async def close(self) -> None:
        await self.loops.stop()
        await self.runner_client.close()
        await self.backend.close()


async def open_backend(settings: Settings) -> JobRunner | None:
    """The configured backend when it lives outside this process (Temporal: a connected client);
    None for the embedded one, which ``Services.build`` makes."""
    if settings.backend != "temporal":
        return None
    from temporalio.client import Client

    from extsched.backends.temporal.job_runner import TemporalJobRunner

    if not settings.temporal_address:
        raise ConfigError("TEMPORAL_ADDRESS: required with EXTSCHED_BACKEND=temporal")
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    call = timedelta(milliseconds=settings.gateway_timeout_ms)
    return TemporalJobRunner(
        client,
        settings.temporal_task_queue,
        catchup_window=timedelta(seconds=settings.catchup_window_seconds),
        call_timeout=call,
        lease_ttl=call + LEASE_MARGIN,
    )


log = logging.getLogger(__name__)
SYNC_RETRY_SECONDS = 5.0
RECONCILE_SECONDS = 300.0


def start_background(svc: Services) -> None:
    """The loops of a process that fires schedules: the backend's (the embedded dispatcher and
    workers, or the Temporal worker), and backend sync retries."""
    if svc.engine is not None:
        svc.engine.start(svc.loops)
    elif svc.backend.name == "temporal":
        from extsched.backends.temporal.activities import Activities, Limits
        from extsched.backends.temporal.job_runner import TemporalJobRunner
        from extsched.backends.temporal.worker import build_worker

        assert isinstance(svc.backend, TemporalJobRunner)
        backend = svc.backend
        limits = Limits(backend.call_timeout, backend.lease_ttl, backend.catchup_window)
        activities = Activities(svc.pipeline, svc.clock, limits)

        async def temporal_worker() -> None:
            # A fresh worker each time: one that ended (the server went away) cannot run again.
            worker = build_worker(
                backend.client,
                backend.task_queue,
                activities,
                concurrency=svc.settings.worker_concurrency,
            )
            await worker.run()

        svc.loops.start("temporal-worker", temporal_worker)
    svc.loops.start("sync", lambda: sync_loop(svc))


async def sync_loop(svc: Services) -> None:
    """Apply sync intents whose earlier attempt failed, until they stick; reconcile now and then.

    The first reconcile comes a minute after start, not during it: start-up stays quick and a
    restarting fleet does not scan the table all at once."""
    since_reconcile = RECONCILE_SECONDS - 60.0
    failures = Failures(log, "sync or reconcile pass")
    while True:
        await asyncio.sleep(SYNC_RETRY_SECONDS)
        since_reconcile += SYNC_RETRY_SECONDS
        try:
            await svc.sync.apply_due()
            if since_reconcile >= RECONCILE_SECONDS:
                since_reconcile = 0
                await svc.reconciler.run()
        except Exception as exc:
            failures.failed(exc)
        else:
            failures.succeeded()
