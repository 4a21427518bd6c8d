"""The FastAPI application factory; its lifespan owns the database engine."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from aiohttp import web
from fastapi import FastAPI

from extsched import __version__
from extsched.api import openapi
from extsched.api.problems import install_handlers
from extsched.api.routers import (
    admin,
    docs,
    extensions,
    gateway,
    health,
    host_api,
    installs,
    metrics,
    registry,
    schedules,
    tenant,
)
from extsched.api.url_guard import NulGuard
from extsched.backends.base import JobRunner
from extsched.clock import Clock, SystemClock
from extsched.config import Settings
from extsched.devrunner.app import start as start_dev_runner
from extsched.devrunner.resolver import database_resolver
from extsched.services.container import Services, open_backend, start_background
from extsched.services.demo import seed_demo
from extsched.store.db import Database
from extsched.store.migrate import upgrade
from extsched.web import pages

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    demo: bool = False,
    backend: JobRunner | None = None,
    background: bool = True,
    dev_runner: bool = False,
    public_url: str | None = None,
) -> FastAPI:
    """The API. With ``background`` the process also dispatches and executes runs and retries
    backend syncs; tests turn it off and drive those passes themselves with an injected clock.
    ``dev_runner`` also serves the dev runner, which reaches the host API at ``public_url``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        svc: Services | None = None
        runner_site: web.AppRunner | None = None
        try:
            await upgrade(db)
            backend_ = backend or await open_backend(settings)
            svc = Services.build(settings, db, clock or SystemClock(), backend_)
            app.state.services = svc
            if dev_runner:
                url = urlsplit(settings.runner_base_url)
                runner_site, _ = await start_dev_runner(
                    url.hostname or "127.0.0.1",
                    url.port or 8080,
                    resolve_slug=database_resolver(db),
                    host_api=public_url,
                    runner_token=settings.runner_service_token,
                )
                log.info("dev runner serving %s", settings.runner_base_url)
            if demo:
                await seed_demo(svc)
            if background:
                start_background(svc)
            yield
        finally:
            if svc is not None:
                if svc.engine is not None:
                    await svc.engine.stop()
                await svc.close()
            if runner_site is not None:
                await runner_site.cleanup()
            await db.dispose()

    app = FastAPI(
        title="extsched",
        version=__version__,
        description="Scheduled tasks for installed extensions.",
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,
        docs_url=None,
        redoc_url=None,
    )
    install_handlers(app)
    app.add_middleware(NulGuard)
    routers = (
        *(health, metrics, registry, installs, extensions, schedules, tenant, admin),
        *(gateway, host_api),
    )
    for module in (*routers, docs):
        app.include_router(module.router)
    app.include_router(pages.router)
    docs.mount_assets(app)
    pages.mount_static(app)
    document = functools.cache(lambda: openapi.build(app))
    app.openapi = document  # type: ignore[method-assign]
    return app
