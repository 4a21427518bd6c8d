"""The services of one process, built once by the app's lifespan or the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from extsched.auth import Authenticator
from extsched.clock import Clock
from extsched.config import Settings
from extsched.services.installs import InstallService
from extsched.services.registry import RegistryService
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

    @classmethod
    def build(cls, settings: Settings, db: Database, clock: Clock) -> Services:
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            authenticator=Authenticator(
                secret=settings.effective_jwt_secret, jwks_url=settings.jwks_url
            ),
            registry=RegistryService(db, clock),
            installs=InstallService(db, clock),
            tenants=TenantService(db, clock),
        )
