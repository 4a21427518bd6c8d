"""The tenant's own page: installed extensions, default time zone, the kill switch and the audit
log (SPEC §4 tenant settings and audit, §11)."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from extsched.auth import EXTENSION_READ, mint_token
from tests.browser.conftest import SECRET, Site

SAMPLE = "extsched.sample"


async def test_it_lists_the_installed_extensions_with_a_link_to_their_schedules(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    await page.goto(f"{site.base}/settings/extensions#token={tenant.token}")
    link = page.get_by_role("link", name="Sample extension")
    await expect(link).to_be_visible()
    await link.click()
    await expect(page).to_have_url(f"{site.base}/settings/extensions/{SAMPLE}")
    await expect(page.get_by_role("heading", name="Sample extension", level=1)).to_be_visible()


async def test_the_default_zone_is_saved_checked_and_used_by_new_schedules(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    await page.goto(f"{site.base}/settings/extensions#token={tenant.token}")
    zone = page.get_by_label("Default time zone")
    await zone.fill("Mars/Olympus")
    await page.get_by_role("button", name="Save").click()
    await expect(zone).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#default-zone-error")).to_contain_text("unknown time zone")
    assert tenant.api.get("/api/tenant/settings").json()["defaultTimezone"] == "UTC"
    await zone.fill("america/sao_paulo")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Default time zone saved")
    await expect(page.get_by_label("Default time zone")).to_have_value("America/Sao_Paulo")
    await page.goto(f"{site.base}/settings/extensions/{SAMPLE}")
    await page.get_by_role("button", name="New schedule").click()
    await expect(page.get_by_label("Time zone")).to_have_value("America/Sao_Paulo")


async def test_the_kill_switch_asks_first_pauses_every_schedule_and_resumes(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    await page.goto(f"{site.base}/settings/extensions#token={tenant.token}")
    switch = page.get_by_role("switch", name="Pause all schedules")
    await switch.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Pause every schedule?")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(switch).not_to_be_checked()
    assert tenant.api.get("/api/tenant/settings").json()["schedulesPaused"] is False
    await switch.click()
    await page.get_by_role("dialog").get_by_role("button", name="Pause all schedules").click()
    await expect(page.get_by_role("status")).to_contain_text("Every schedule is paused")
    await expect(page.get_by_role("switch", name="Pause all schedules")).to_be_checked()
    assert tenant.api.get("/api/tenant/settings").json()["schedulesPaused"] is True
    # The extension's page says so, and run-now is refused with the reason.
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    tenant.schedule(SAMPLE, endpointId=echo, cron="0 9 * * *", name="Held")
    await page.goto(f"{site.base}/settings/extensions/{SAMPLE}")
    await expect(page.get_by_text("Every schedule of this tenant is paused")).to_be_visible()
    await (
        page.get_by_role("row")
        .filter(has_text="Held")
        .get_by_role("button", name="Run now")
        .click()
    )
    await expect(page.get_by_role("status")).to_contain_text("Could not run Held")
    await page.goto(f"{site.base}/settings/extensions")
    await page.get_by_role("switch", name="Pause all schedules").click()
    await expect(page.get_by_role("status")).to_contain_text("Schedules resumed")
    assert tenant.api.get("/api/tenant/settings").json()["schedulesPaused"] is False


async def test_the_audit_log_shows_newest_first_with_actor_and_changed_fields(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    made = tenant.schedule(SAMPLE, endpointId=echo, cron="0 9 * * *", name="First name")
    r = tenant.api.patch(
        f"/api/extensions/{SAMPLE}/schedules/{made['id']}", json={"name": "Second name"}
    )
    assert r.status_code == 200
    await page.goto(f"{site.base}/settings/extensions#token={tenant.token}")
    rows = page.locator("#audit tbody tr")
    await expect(rows).to_have_count(3)  # install, create, update
    newest = rows.nth(0)
    await expect(newest).to_contain_text("schedule.updated")
    await expect(newest).to_contain_text("ada-admin")
    await expect(newest.locator(".before")).to_have_text("First name")
    await expect(newest.locator(".after")).to_have_text("Second name")
    await expect(rows.nth(2)).to_contain_text("install.created")


async def test_a_long_audit_log_pages_on_request(page: Page, site: Site) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    made = tenant.schedule(SAMPLE, endpointId=echo, cron="0 9 * * *", name="Renamed 0")
    for i in range(1, 24):
        r = tenant.api.patch(
            f"/api/extensions/{SAMPLE}/schedules/{made['id']}", json={"name": f"Renamed {i}"}
        )
        assert r.status_code == 200
    await page.goto(f"{site.base}/settings/extensions#token={tenant.token}")
    rows = page.locator("#audit tbody tr")
    await expect(rows).to_have_count(20)
    await expect(rows.first.locator(".after")).to_have_text("Renamed 23")
    await page.get_by_role("button", name="Older entries").click()
    await expect(rows).to_have_count(25)  # 23 renames, the create and the install
    await expect(rows.last).to_contain_text("install.created")
    await expect(page.get_by_role("button", name="Older entries")).to_have_count(0)


async def test_an_expired_token_returns_to_the_sign_in_form_with_the_reason(
    page: Page, site: Site
) -> None:
    expired = mint_token(
        SECRET, sub="old", tenant="t-x", permissions=[EXTENSION_READ], ttl_seconds=-60
    )
    await page.goto(f"{site.base}/settings/extensions#token={expired}")
    await expect(page.get_by_role("alert")).to_contain_text(re.compile("expired"))
    await expect(page.get_by_label("Token")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('extsched.token')") is None
