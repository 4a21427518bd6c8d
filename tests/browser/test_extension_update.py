"""The update flow on an extension's page: choose a version, see the remap, and when schedules
would lose their endpoint, edit them or disable them as part of the update (SPEC §6, §11)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Site, Tenant

REPORTS = "acme.reports"
V1 = [("POST", "/sync"), ("POST", "/cleanup"), ("GET", "/status")]
V2 = [("POST", "/sync"), ("GET", "/status")]  # /cleanup is gone


@pytest.fixture
def reports(site: Site) -> Tenant:
    site.publish(REPORTS, "1.0.0", V1)
    site.publish(REPORTS, "2.0.0", V2)
    tenant = site.tenant(install=REPORTS)
    for name, path in (("Sync", "/sync"), ("Cleanup", "/cleanup")):
        tenant.schedule(
            REPORTS, endpointId=tenant.endpoint(REPORTS, "POST", path), cron="0 4 * * *", name=name
        )
    return tenant


async def choose_version(page: Page, site: Site, tenant: Tenant, version: str) -> None:
    await page.goto(f"{site.base}/settings/extensions/{REPORTS}#token={tenant.token}")
    await page.get_by_role("button", name="Update extension").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_label("Version")).to_contain_text("1.0.0 (installed)")
    await dialog.get_by_label("Version").select_option(version)


async def test_a_blocked_update_names_the_schedules_and_disables_them_on_request(
    page: Page, site: Site, reports: Tenant
) -> None:
    await choose_version(page, site, reports, "2.0.0")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("1 schedule uses an endpoint that version 2.0.0 does not")
    affected = dialog.get_by_role("listitem")
    await expect(affected).to_have_count(1)
    await expect(affected).to_contain_text("Cleanup")
    await expect(affected).to_contain_text("POST /cleanup")
    await expect(affected.get_by_role("button", name="Edit")).to_be_visible()
    await expect(dialog.get_by_role("button", name="Update", exact=True)).to_have_count(0)
    await dialog.get_by_role("button", name="Disable them and update").click()
    await expect(page.get_by_role("status")).to_contain_text("Updated to version 2.0.0")
    await expect(page.locator("#extension-meta")).to_contain_text("version 2.0.0")
    cleanup = page.get_by_role("row").filter(has_text="Cleanup")
    await expect(cleanup).to_contain_text("not in the installed version")
    await expect(page.get_by_role("switch", name="Enabled: Cleanup")).not_to_be_checked()
    await expect(page.get_by_role("switch", name="Enabled: Sync")).to_be_checked()
    install = reports.api.get(f"/api/v1/extensions/{REPORTS}").json()
    assert install["version"] == "2.0.0"
    by_name = {s["name"]: s for s in reports.schedules(REPORTS)}
    assert by_name["Cleanup"]["disabledReason"] == "endpoint_missing_after_update"
    assert by_name["Cleanup"]["enabled"] is False
    assert by_name["Sync"]["enabled"] is True


async def test_editing_an_affected_schedule_unblocks_the_update(
    page: Page, site: Site, reports: Tenant
) -> None:
    await choose_version(page, site, reports, "2.0.0")
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("listitem").get_by_role("button", name="Edit").click()
    await expect(page.get_by_role("heading", name="Edit schedule “Cleanup”")).to_be_visible()
    await page.get_by_label("Endpoint").select_option(label="POST /sync")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Cleanup saved")
    await page.get_by_role("button", name="Update extension").click()
    await dialog.get_by_label("Version").select_option("2.0.0")
    await expect(dialog).to_contain_text("2 schedules will call the same endpoints")
    await dialog.get_by_role("button", name="Update", exact=True).click()
    await expect(page.locator("#extension-meta")).to_contain_text("version 2.0.0")
    assert all(s["enabled"] for s in reports.schedules(REPORTS))


async def test_cancel_leaves_the_install_as_it_was(page: Page, site: Site, reports: Tenant) -> None:
    await choose_version(page, site, reports, "2.0.0")
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("button", name="Disable them and update")).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    assert reports.api.get(f"/api/v1/extensions/{REPORTS}").json()["version"] == "1.0.0"
