"""The FastAPI application factory; its lifespan owns the database engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from extsched import __version__
from extsched.api.problems import install_handlers
from extsched.api.routers import extensions, health, installs, registry, schedules, tenant
from extsched.clock import Clock, SystemClock
from extsched.config import Settings
from extsched.services.container import Services
from extsched.services.demo import seed_demo
from extsched.store.db import Database
from extsched.store.migrate import upgrade


def create_app(settings: Settings, *, clock: Clock | None = None, demo: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        try:
            await upgrade(db)
            svc = Services.build(settings, db, clock or SystemClock())
            app.state.services = svc
            if demo:
                await seed_demo(svc)
            yield
        finally:
            await db.dispose()

    app = FastAPI(
        title="extsched",
        version=__version__,
        description="Scheduled tasks for installed extensions.",
        lifespan=lifespan,
    )
    install_handlers(app)
    for module in (health, registry, installs, extensions, schedules, tenant):
        app.include_router(module.router)
    return app
