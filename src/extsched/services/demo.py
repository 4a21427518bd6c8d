"""Demo data for a newcomer: a tenant, a published sample extension and its install.

Idempotent: running it on every start finds what it made before and changes nothing.
"""

from __future__ import annotations

import hashlib

from extsched.domain.paging import page_request
from extsched.errors import AlreadyExists
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.services.inputs import Given

DEMO_TENANT = "demo"
DEMO_ACTOR = "demo-admin"
DEMO_PUBLISHER, DEMO_NAME, DEMO_VERSION = "extsched", "sample", "1.0.0"
DEMO_SCHEDULE = "Echo every five minutes"
DEMO_MANIFEST = {
    "name": "sample",
    "description": "Sample extension served by the dev runner's built-in handlers",
    "capabilities": ["cap:scheduler.manage"],
    "api": {
        "endpoints": [
            {"method": "POST", "path": "/echo", "handler": "builtin:echo"},
            {"method": "GET", "path": "/status", "handler": "builtin:echo"},
            {"method": "POST", "path": "/slow", "handler": "builtin:slow"},
            {"method": "POST", "path": "/fail", "handler": "builtin:fail"},
            {"method": "POST", "path": "/items/:id", "handler": "builtin:echo"},
            {"method": "POST", "path": "/self-schedule", "handler": "builtin:self-schedule"},
        ]
    },
}


async def seed_demo(svc: Services) -> str:
    """Make sure the demo data exists; returns the demo install's id."""
    caller = Caller(DEMO_TENANT, DEMO_ACTOR)
    registry = next(
        (
            e
            for e in await svc.registry.list_extensions()
            if (e.publisher, e.name) == (DEMO_PUBLISHER, DEMO_NAME)
        ),
        None,
    )
    if registry is None:
        registry = await svc.registry.create_extension(
            DEMO_PUBLISHER, DEMO_NAME, "Sample extension", "Built-in demo handlers"
        )
    if not any(v.version == DEMO_VERSION for v in await svc.registry.list_versions(registry.id)):
        digest = hashlib.sha256(repr(DEMO_MANIFEST).encode()).hexdigest()
        await svc.registry.publish_version(
            registry.id,
            version=DEMO_VERSION,
            content_hash=f"sha256:{digest}",
            manifest=DEMO_MANIFEST,
            runtime="builtin",
        )
    try:
        view = await svc.installs.install(
            caller,
            registry_id=registry.id,
            version=DEMO_VERSION,
            granted_caps=["cap:scheduler.manage"],  # its self-schedule endpoint uses the host API
        )
    except AlreadyExists:
        view = await svc.installs.get(caller, registry.id)
    existing, _ = await svc.schedules.list_page(caller, view.install.id, page_request(None, None))
    if not any(v.schedule.name == DEMO_SCHEDULE for v in existing):
        endpoint = next(
            e.endpoint
            for e in await svc.installs.endpoints(caller, view.install.id)
            if (e.endpoint.method, e.endpoint.path) == ("POST", "/echo")
        )
        created = await svc.schedules.create(
            caller,
            view.install.id,
            Given(
                {
                    "endpointId": endpoint.id,
                    "name": DEMO_SCHEDULE,
                    "cron": "*/5 * * * *",
                    "payloadJson": {"hello": "from extsched"},
                }
            ),
        )
        # A first run right away, so the history is not empty while waiting for the cron.
        await svc.run_now.run_now(caller, view.install.id, created.schedule.id)
    return view.install.id
