"""The services of one process, built once by the app's lifespan or the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from extsched.auth import Authenticator
from extsched.backends.base import JobRunner
from extsched.backends.memory import MemoryJobRunner
from extsched.clock import Clock
from extsched.config import Settings
from extsched.services.installs import InstallService
from extsched.services.registry import RegistryService
from extsched.services.schedules import ScheduleService
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

    @classmethod
    def build(
        cls, settings: Settings, db: Database, clock: Clock, backend: JobRunner | None = None
    ) -> Services:
        # Until the embedded backend lands, schedules are held by the in-memory backend.
        backend = backend or MemoryJobRunner(clock)
        sync = SyncService(db, backend, clock)
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            authenticator=Authenticator(
                secret=settings.effective_jwt_secret, jwks_url=settings.jwks_url
            ),
            registry=RegistryService(db, clock),
            installs=InstallService(db, clock, sync),
            tenants=TenantService(db, clock, sync),
            backend=backend,
            sync=sync,
            schedules=ScheduleService(
                db,
                clock,
                sync,
                max_per_install=settings.max_schedules_per_install,
                max_per_tenant=settings.max_schedules_per_tenant,
            ),
        )
