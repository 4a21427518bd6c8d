"""The services of one process, built once by the app's lifespan or the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from extsched.auth import Authenticator
from extsched.backends.base import JobRunner
from extsched.backends.embedded.engine import EmbeddedEngine
from extsched.backends.embedded.job_runner import EmbeddedJobRunner
from extsched.clock import Clock
from extsched.config import Settings
from extsched.errors import ConfigError
from extsched.loops import Supervisor
from extsched.metrics import Metrics
from extsched.runner_client import RunnerClient
from extsched.secret_box import SecretBox
from extsched.services.admin import AdminService
from extsched.services.execution import Attempts
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
                raise ConfigError("EXTSCHED_BACKEND: only 'embedded' is available in this build")
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
            observer=Observer(db, clock, metrics, loops),
            loops=loops,
        )

    async def close(self) -> None:
        await self.loops.stop()
        await self.runner_client.close()
        await self.backend.close()
