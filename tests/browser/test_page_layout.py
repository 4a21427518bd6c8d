"""How the Schedules page reads: a populated page and the create form as screenshots for review,
a phone's width, keyboard use with visible focus, and a long list that pages."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Site, Tenant, offline_context, screenshot_dir

SAMPLE = "extsched.sample"


def populate(tenant: Tenant) -> None:
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    fail = tenant.endpoint(SAMPLE, "POST", "/fail")
    status = tenant.endpoint(SAMPLE, "GET", "/status")
    tenant.schedule(
        SAMPLE,
        endpointId=echo,
        cron="30 9 * * 1-5",
        timezone="Europe/Paris",
        name="Weekday digest",
        payloadJson={"digest": "daily"},
    )
    failing = tenant.schedule(
        SAMPLE,
        endpointId=fail,
        cron="0 */6 * * *",
        name="Partner sync",
        payloadJson={"status": 400},
        maxAttempts=1,
    )
    tenant.schedule(SAMPLE, endpointId=status, cron="*/15 * * * *", name="Health probe")
    tenant.schedule(
        SAMPLE,
        endpointId=echo,
        cron="0 2 1 * *",
        timezone="America/New_York",
        name="Monthly cleanup",
        enabled=False,
    )
    r = tenant.api.post(f"/api/extensions/{SAMPLE}/schedules/{failing['id']}/run-now")
    assert r.status_code == 202, r.text


async def test_screenshots_of_the_populated_page_and_the_create_form(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    populate(tenant)
    await page.goto(f"{site.base}/settings/extensions/{SAMPLE}#token={tenant.token}")
    partner = page.get_by_role("row").filter(has_text="Partner sync")
    await expect(partner.locator("td[data-label='Last run']")).to_contain_text("error")
    await expect(partner.locator("td[data-label='Last error']")).to_contain_text("400")
    await expect(page.get_by_role("switch", name="Enabled: Monthly cleanup")).not_to_be_checked()
    await page.screenshot(path=screenshot_dir() / "schedules.png", full_page=True)
    await page.get_by_role("button", name="New schedule").click()
    await page.get_by_label("Name").fill("Quarter-hour export")
    await page.get_by_label("Endpoint").select_option(label="POST /echo")
    await page.get_by_label("Cron").fill("*/15 8-18 * * 1-5")
    await page.get_by_label("Time zone").fill("Asia/Tokyo")
    await page.get_by_label("Payload (JSON)").fill('{"format": "csv"}')
    await expect(page.locator("#f-cron-hint li")).to_have_count(5)
    await page.locator("#editor").screenshot(path=screenshot_dir() / "schedule-form.png")


async def test_at_a_phones_width_rows_become_cards_and_nothing_scrolls_sideways(
    browser: Browser, site: Site
) -> None:
    tenant = site.tenant()
    populate(tenant)
    context, _ = await offline_context(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        phone = await context.new_page()
        await phone.goto(f"{site.base}/settings/extensions/{SAMPLE}#token={tenant.token}")
        digest = phone.get_by_role("row").filter(has_text="Weekday digest")
        await expect(digest.get_by_role("button", name="Run now")).to_be_visible()
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        label = await digest.locator("td[data-label='Cron']").evaluate(
            "td => getComputedStyle(td, '::before').content"
        )
        assert label == '"Cron"'
        await phone.screenshot(path=screenshot_dir() / "schedules-phone.png", full_page=True)
    finally:
        await context.close()


async def test_the_page_works_from_the_keyboard_with_a_visible_focus(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    await page.goto(f"{site.base}/settings/extensions/{SAMPLE}#token={tenant.token}")
    new = page.get_by_role("button", name="New schedule")
    await expect(new).to_be_visible()
    for _ in range(12):  # tab until "New schedule" has focus
        await page.keyboard.press("Tab")
        if await new.evaluate("b => b === document.activeElement"):
            break
    else:
        raise AssertionError("Tab never reached New schedule")
    outline = await new.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline == "solid"
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Name")).to_be_focused()
    await page.keyboard.type("Typed")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Endpoint")).to_be_focused()
    await page.get_by_label("Endpoint").select_option(label="POST /echo")
    await page.keyboard.press("Tab")
    await page.keyboard.type("0 7 * * *")
    await page.keyboard.press("Enter")  # submits the form
    await expect(page.get_by_role("status")).to_contain_text("Typed created")
    await expect(page.get_by_role("switch", name="Enabled: Typed")).to_be_checked()


async def test_a_long_list_pages_on_request(page: Page, site: Site) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    for i in range(30):
        tenant.schedule(SAMPLE, endpointId=echo, cron=f"{i} 5 * * *", name=f"Job {i:02}")
    await page.goto(f"{site.base}/settings/extensions/{SAMPLE}#token={tenant.token}")
    rows = page.locator("#schedules tbody tr")
    await expect(rows).to_have_count(25)
    await page.get_by_role("button", name="Load more schedules").click()
    await expect(rows).to_have_count(30)
    await expect(page.get_by_role("button", name="Load more schedules")).to_have_count(0)
