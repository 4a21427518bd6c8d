"""The API docs page works without internet: Swagger UI comes from the service itself."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import Offline, Site


async def test_the_api_docs_render_every_operation_offline(
    site: Site, offline_page: tuple[Page, Offline]
) -> None:
    page, offline = offline_page
    await page.goto(f"{site.base}/docs")
    schedules = page.get_by_text("/api/extensions/{extension_id}/schedules", exact=True).first
    await expect(schedules).to_be_visible(timeout=15_000)
    assert await page.locator(".opblock").count() > 20  # every operation, from /openapi.json
    assert offline.refused == []
