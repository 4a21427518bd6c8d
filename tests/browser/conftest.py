"""A real headless Chromium (Debian's, installed by the test command) driven by Playwright, and
the service in its own process (``extsched serve --demo``, with its dev runner) for it to load.

One service serves the whole session; every test signs in as a tenant of its own, so tests share
no data. Screenshots go to ``test-output/screenshots`` (``EXTSCHED_TEST_OUTPUT`` moves it).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright, expect

from extsched.auth import EXTENSION_READ, EXTENSION_WRITE, PLATFORM_ADMIN, mint_token
from tests.e2e.conftest import launched
from tests.support.postgres import free_port

CHROMIUM = "/usr/bin/chromium"
SECRET = "browser-secret-0123456789-0123456789-xy"
ROOT = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    out = Path(os.environ.get("EXTSCHED_TEST_OUTPUT", ROOT / "test-output")) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class Tenant:
    """A tenant of its own for one test, with an admin's token and an API client."""

    site: Site
    id: str
    token: str
    api: httpx.Client

    def reader_token(self) -> str:
        return mint_token(SECRET, sub="rita-reader", tenant=self.id, permissions=[EXTENSION_READ])

    def install(self, slug: str, version: str = "1.0.0") -> dict[str, Any]:
        r = self.api.post(
            "/api/v1/extensions/install",
            json={"registryId": self.site.registry_id(slug), "version": version},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def endpoint(self, slug: str, method: str, path: str) -> str:
        endpoints = self.api.get(f"/api/extensions/{slug}/endpoints").json()["endpoints"]
        return str(next(e["id"] for e in endpoints if (e["method"], e["path"]) == (method, path)))

    def schedule(self, slug: str, **fields: Any) -> dict[str, Any]:
        r = self.api.post(f"/api/extensions/{slug}/schedules", json=fields)
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def schedules(self, slug: str) -> list[dict[str, Any]]:
        r = self.api.get(f"/api/extensions/{slug}/schedules", params={"limit": 200})
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["schedules"]
        return found


@dataclass
class Site:
    base: str
    operator: httpx.Client
    log: Path
    opened: list[httpx.Client] = field(default_factory=list)

    def registry_id(self, slug: str) -> str:
        listed = self.operator.get("/api/registry/extensions").json()["extensions"]
        return str(next(e["id"] for e in listed if f"{e['publisher']}.{e['name']}" == slug))

    def publish(self, slug: str, version: str, endpoints: list[tuple[str, str]]) -> None:
        """Publish ``version`` of ``slug`` (created when new); the dev runner echoes every call."""
        publisher, name = slug.split(".")
        listed = self.operator.get("/api/registry/extensions").json()["extensions"]
        if not any(f"{e['publisher']}.{e['name']}" == slug for e in listed):
            r = self.operator.post(
                "/api/registry/extensions",
                json={"publisher": publisher, "name": name, "displayName": name.title()},
            )
            assert r.status_code == 201, r.text
        manifest = {
            "name": name,
            "api": {
                "endpoints": [
                    {"method": m, "path": p, "handler": "builtin:echo"} for m, p in endpoints
                ]
            },
        }
        r = self.operator.post(
            f"/api/registry/extensions/{self.registry_id(slug)}/versions",
            json={
                "version": version,
                "contentHash": "sha256:" + hashlib.sha256(f"{slug}@{version}".encode()).hexdigest(),
                "manifest": manifest,
                "runtime": "builtin",
            },
        )
        assert r.status_code in (201, 409), r.text

    def tenant(self, *, install: str | None = "extsched.sample") -> Tenant:
        tenant_id = f"t-{uuid.uuid4().hex[:10]}"
        token = mint_token(
            SECRET, sub="ada-admin", tenant=tenant_id, permissions=[EXTENSION_READ, EXTENSION_WRITE]
        )
        client = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"})
        self.opened.append(client)
        made = Tenant(self, tenant_id, token, client)
        if install:
            made.install(install)
        return made


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    where = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "EXTSCHED_DATABASE_URL": f"sqlite:///{where}/site.db",
        "EXTSCHED_JWT_SECRET": SECRET,
        "RUNNER_BASE_URL": f"http://127.0.0.1:{free_port()}",
    }
    with launched(["serve", "--demo"], env, where / "serve.log") as base:
        operator_token = mint_token(SECRET, sub="op", tenant=None, permissions=[PLATFORM_ADMIN])
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {operator_token}"}
        ) as operator:
            yield Site(base, operator, where / "serve.log")


@pytest.fixture(autouse=True)
def _tenant_clients_closed(site: Site) -> Iterator[None]:
    yield
    while site.opened:
        site.opened.pop().close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    # Per test and async: Playwright's sync API would hold an event loop open in this thread,
    # which every asyncio test after it would trip over.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the test command installs Debian's chromium")
    async with async_playwright() as p:
        launched_browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched_browser
        finally:
            await launched_browser.close()


class Offline:
    """Requests the page tried to send off this machine (each was refused)."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    async def route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:
            self.refused.append(route.request.url)
            await route.abort()


async def offline_context(browser: Browser, **options: Any) -> tuple[BrowserContext, Offline]:
    context = await browser.new_context(**options)
    offline = Offline()
    await context.route("**/*", offline.route)
    return context, offline


@pytest.fixture
async def offline_page(browser: Browser) -> AsyncIterator[tuple[Page, Offline]]:
    """A page that can reach only this machine, as if there were no internet."""
    context, offline = await offline_context(browser)
    try:
        yield await context.new_page(), offline
    finally:
        await context.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """An offline page in a viewer's zone other than UTC; any script error fails the test."""
    context, offline = await offline_context(
        browser, viewport={"width": 1280, "height": 900}, timezone_id="America/New_York"
    )
    errors: list[str] = []
    opened = await context.new_page()
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield opened
    finally:
        await context.close()
    assert errors == [], errors
    assert offline.refused == []


# Pages poll every few seconds and the dev runner answers quickly; 10 s bounds a wait, no test
# sleeps through it.
expect.set_options(timeout=10_000)
