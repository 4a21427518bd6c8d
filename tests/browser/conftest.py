"""A real headless Chromium (Debian's, installed by the test command) driven by Playwright, and
the service in its own process for it to load."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

from tests.e2e.conftest import launched
from tests.support.postgres import free_port

CHROMIUM = "/usr/bin/chromium"


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


@pytest.fixture
async def offline_page(browser: Browser) -> AsyncIterator[tuple[Page, Offline]]:
    """A page that can reach only this machine, as if there were no internet."""
    context = await browser.new_context()
    offline = Offline()
    await context.route("**/*", offline.route)
    try:
        yield await context.new_page(), offline
    finally:
        await context.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "EXTSCHED_DATABASE_URL": f"sqlite:///{tmp_path}/site.db",
        "EXTSCHED_JWT_SECRET": "browser-secret-0123456789-0123456789-xy",
        "RUNNER_BASE_URL": f"http://127.0.0.1:{free_port()}",
    }
    with launched(["serve", "--demo"], env, tmp_path / "serve.log") as base:
        yield base
