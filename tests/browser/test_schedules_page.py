"""The Schedules page of one extension, driven as a tenant admin drives it (SPEC §11)."""

from __future__ import annotations

import json
import re

from playwright.async_api import Locator, Page, Route, expect

from tests.browser.conftest import Site, screenshot_dir

SAMPLE = "extsched.sample"


async def open_page(page: Page, site: Site, token: str, slug: str = SAMPLE) -> None:
    await page.goto(f"{site.base}/settings/extensions/{slug}#token={token}")


def row(page: Page, text: str) -> Locator:
    return page.get_by_role("row").filter(has_text=text)


async def test_a_sign_in_link_keeps_the_token_and_clears_the_address_bar(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    await open_page(page, site, tenant.token)
    await expect(page.get_by_role("heading", name="Schedules")).to_be_visible()
    assert page.url == f"{site.base}/settings/extensions/{SAMPLE}"
    assert await page.evaluate("sessionStorage.getItem('extsched.token')") == tenant.token
    await page.reload()  # the token outlives a reload without being in the URL
    await expect(page.get_by_role("button", name="New schedule")).to_be_visible()


async def test_the_demo_prints_a_link_that_signs_in_to_its_schedules(
    page: Page, site: Site
) -> None:
    [link] = re.findall(
        r"http://\S+/settings/extensions/extsched\.sample#token=\S+", site.log.read_text()
    )
    assert link.startswith(site.base)
    await page.goto(link)
    demo = row(page, "Echo every five minutes")
    await expect(demo).to_contain_text("POST /echo")
    await expect(demo).to_contain_text("*/5 * * * *")
    await expect(page.get_by_role("button", name="Run now")).to_be_visible()


async def test_without_a_token_the_page_asks_for_one_and_says_why_a_token_was_refused(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    await page.goto(f"{site.base}/settings/extensions/{SAMPLE}")
    await expect(page.get_by_label("Token")).to_be_visible()
    await page.get_by_label("Token").fill("not-a-jwt")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("invalid token")
    await expect(page.get_by_label("Token")).to_be_visible()
    await page.get_by_label("Token").fill(tenant.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="New schedule")).to_be_visible()


async def test_creating_a_schedule_previews_the_cron_and_saves_every_field(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    await open_page(page, site, tenant.token)
    await page.get_by_role("button", name="New schedule").click()
    await page.get_by_label("Name").fill("Weekday report")
    await page.get_by_label("Endpoint").select_option(label="POST /echo")
    await page.get_by_label("Time zone").fill("Europe/Paris")
    await page.get_by_label("Cron").fill("30 9 * * 1-5")
    preview = page.locator("#f-cron-hint")
    await expect(preview).to_contain_text("9:30")
    await expect(preview.get_by_role("listitem")).to_have_count(5)
    await page.get_by_label("Payload (JSON)").fill('{"report": "weekly", "rows": [1, 2]}')
    await page.screenshot(path=screenshot_dir() / "create-form.png", full_page=True)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Weekday report created")
    created = row(page, "Weekday report")
    await expect(created).to_contain_text("POST /echo")
    await expect(created).to_contain_text("Europe/Paris")
    await expect(created).to_contain_text("30 9 * * 1-5")
    saved = next(s for s in tenant.schedules(SAMPLE) if s["name"] == "Weekday report")
    assert (saved["cron"], saved["timezone"], saved["enabled"]) == (
        "30 9 * * 1-5",
        "Europe/Paris",
        True,
    )
    assert saved["payloadJson"] == {"report": "weekly", "rows": [1, 2]}
    assert (saved["endpointMethod"], saved["endpointPath"]) == ("POST", "/echo")


async def test_an_invalid_cron_or_payload_is_shown_at_its_field_and_nothing_is_saved(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    await open_page(page, site, tenant.token)
    await page.get_by_role("button", name="New schedule").click()
    await page.get_by_label("Endpoint").select_option(label="POST /echo")
    cron = page.get_by_label("Cron")
    await cron.fill("*/2 * * * *")
    await expect(cron).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-cron-error")).to_contain_text("5 minutes")
    payload = page.get_by_label("Payload (JSON)")
    await payload.fill('{"unfinished": ')
    await expect(payload).to_have_attribute("aria-invalid", "true")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#f-payloadJson-error")).to_contain_text("not valid JSON")
    # Valid JSON but a credential key and a too frequent cron: the server's field errors, both.
    await payload.fill('{"apiKey": "s3cret"}')
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#f-payloadJson-error")).to_contain_text("install secrets")
    await expect(page.locator("#f-cron-error")).to_contain_text("5 minutes")
    await expect(page.get_by_role("button", name="Save")).to_be_enabled()
    assert tenant.schedules(SAMPLE) == []


async def test_a_name_taken_is_shown_next_to_the_name(page: Page, site: Site) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    tenant.schedule(SAMPLE, endpointId=echo, cron="0 * * * *", name="Hourly")
    await open_page(page, site, tenant.token)
    await page.get_by_role("button", name="New schedule").click()
    await page.get_by_label("Name").fill("Hourly")
    await page.get_by_label("Endpoint").select_option(label="POST /echo")
    await page.get_by_label("Cron").fill("15 * * * *")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-name-error")).not_to_be_empty()
    assert len(tenant.schedules(SAMPLE)) == 1


async def test_a_get_endpoint_takes_no_payload_and_unschedulable_ones_say_why(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    await open_page(page, site, tenant.token)
    await page.get_by_role("button", name="New schedule").click()
    endpoint = page.get_by_label("Endpoint")
    items = endpoint.locator("option", has_text="/items/:id")
    await expect(items).to_be_disabled()
    await expect(items).to_contain_text("paths with parameters cannot be scheduled")
    await endpoint.select_option(label="GET /status")
    await expect(page.get_by_label("Payload (JSON)")).to_be_disabled()
    await page.get_by_label("Cron").fill("0 6 * * *")
    await page.get_by_role("button", name="Save").click()
    await expect(row(page, "GET /status")).to_be_visible()
    [saved] = tenant.schedules(SAMPLE)
    assert saved["payloadJson"] is None


async def test_editing_sends_only_what_changed(page: Page, site: Site) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    tenant.schedule(
        SAMPLE, endpointId=echo, cron="0 9 * * *", name="Morning", payloadJson={"keep": True}
    )
    await open_page(page, site, tenant.token)
    await row(page, "Morning").get_by_role("button", name="Edit").click()
    await expect(page.get_by_label("Payload (JSON)")).to_have_value('{\n  "keep": true\n}')
    await page.get_by_label("Name").fill("Evening")
    await page.get_by_label("Cron").fill("0 18 * * *")
    await page.get_by_role("button", name="Save").click()
    await expect(row(page, "Evening")).to_contain_text("0 18 * * *")
    await expect(page.get_by_role("row").filter(has_text="Morning")).to_have_count(0)
    [saved] = tenant.schedules(SAMPLE)
    assert (saved["name"], saved["cron"], saved["revision"]) == ("Evening", "0 18 * * *", 2)
    assert saved["payloadJson"] == {"keep": True}
    audit = tenant.api.get("/api/tenant/audit").json()["entries"][0]
    assert audit["action"] == "schedule.updated"
    assert set(audit["details"]["after"]) == {"name", "cron"}


async def test_the_switch_disables_and_enables_a_schedule(page: Page, site: Site) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    tenant.schedule(SAMPLE, endpointId=echo, cron="0 9 * * *", name="Daily")
    await open_page(page, site, tenant.token)
    switch = page.get_by_role("switch", name="Enabled: Daily")
    await expect(switch).to_be_checked()
    await switch.uncheck()
    await expect(page.get_by_role("status")).to_contain_text("Daily disabled")
    [saved] = tenant.schedules(SAMPLE)
    assert (saved["enabled"], saved["nextRunAt"]) == (False, None)
    await expect(row(page, "Daily").locator("td[data-label='Next run']")).to_have_text("—")
    await page.get_by_role("switch", name="Enabled: Daily").check()
    await expect(page.get_by_role("status")).to_contain_text("Daily enabled")
    assert tenant.schedules(SAMPLE)[0]["enabled"] is True


async def test_run_now_toasts_and_the_run_appears_in_the_history_and_finishes(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    tenant.schedule(SAMPLE, endpointId=echo, cron="0 3 * * *", name="Nightly")
    await open_page(page, site, tenant.token)
    nightly = row(page, "Nightly")
    await expect(nightly).to_contain_text("never run")
    await nightly.get_by_role("button", name="Run now").click()
    await expect(page.get_by_role("status")).to_contain_text("Run of Nightly queued")
    await nightly.get_by_role("button", name="History").click()
    history = page.locator("#history")
    await expect(history.get_by_role("heading")).to_have_text("Run history: Nightly")
    run = history.locator("tbody tr")
    await expect(run).to_have_count(1)
    await expect(run).to_contain_text("run now")
    # The page polls: the run's end shows up without a reload, in the list and in the history.
    await expect(run.locator("td[data-label='Status']")).to_have_text("success", timeout=20_000)
    await expect(nightly.locator("td[data-label='Last run']")).to_contain_text("success")
    await expect(run.locator("td[data-label='Attempt']")).to_have_text("1 / 3")


async def test_delete_asks_first_and_cancel_keeps_the_schedule(page: Page, site: Site) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    tenant.schedule(SAMPLE, endpointId=echo, cron="0 9 * * *", name="Doomed")
    await open_page(page, site, tenant.token)
    await row(page, "Doomed").get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Delete schedule “Doomed”?")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    assert len(tenant.schedules(SAMPLE)) == 1
    await row(page, "Doomed").get_by_role("button", name="Delete").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("status")).to_contain_text("Doomed deleted")
    await expect(page.get_by_text("No schedules yet")).to_be_visible()
    assert tenant.schedules(SAMPLE) == []


async def test_empty_states_say_what_to_do(page: Page, site: Site) -> None:
    site.publish("acme.hooks", "1.0.0", [("DELETE", "/cache"), ("POST", "/items/:id")])
    tenant = site.tenant()
    await open_page(page, site, tenant.token)
    await expect(page.get_by_text("No schedules yet")).to_be_visible()
    await expect(page.get_by_role("button", name="New schedule")).to_have_count(1)
    tenant.install("acme.hooks")
    await page.goto(f"{site.base}/settings/extensions/acme.hooks")
    await expect(page.get_by_text("declares no schedulable endpoints")).to_be_visible()
    await expect(page.get_by_role("button", name="New schedule")).to_have_count(0)
    await page.goto(f"{site.base}/settings/extensions/acme.nothing")
    await expect(page.get_by_text("not installed for your tenant")).to_be_visible()


async def test_a_read_only_user_sees_no_write_control(page: Page, site: Site) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    tenant.schedule(SAMPLE, endpointId=echo, cron="0 9 * * *", name="Watched")
    await open_page(page, site, tenant.reader_token())
    watched = row(page, "Watched")
    await expect(watched.get_by_role("button", name="History")).to_be_visible()
    for name in ("New schedule", "Run now", "Edit", "Delete", "Update extension", "Copy error"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    await expect(page.get_by_role("switch")).to_have_count(0)
    await expect(watched.locator("td[data-label='Enabled']")).to_have_text("On")
    await page.goto(f"{site.base}/settings/extensions")
    await expect(page.get_by_text("Default time zone")).to_be_visible()
    await expect(page.get_by_role("button", name="Save")).to_have_count(0)
    await expect(page.get_by_role("switch")).to_have_count(0)


async def test_script_text_in_a_name_or_payload_is_shown_never_run(page: Page, site: Site) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    name = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    payload = {"note": "</textarea><script>window.pwned=3</script>", "<b>": "<i>x</i>"}
    tenant.schedule(SAMPLE, endpointId=echo, cron="0 9 * * *", name=name, payloadJson=payload)
    await open_page(page, site, tenant.token)
    shown = row(page, "window.pwned=1")
    await expect(shown.locator(".name")).to_have_text(name)
    await shown.get_by_role("button", name="Edit").click()
    await expect(page.get_by_label("Name")).to_have_value(name)
    assert json.loads(await page.get_by_label("Payload (JSON)").input_value()) == payload
    await page.goto(f"{site.base}/settings/extensions")
    await expect(page.get_by_text(name).first).to_be_visible()
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("img").count() == 0


async def test_times_are_in_the_schedules_zone_with_the_viewers_time_on_hover(
    page: Page, site: Site
) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    tenant.schedule(SAMPLE, endpointId=echo, cron="0 9 * * *", name="Tokyo", timezone="Asia/Tokyo")
    await open_page(page, site, tenant.token)
    next_run = row(page, "Tokyo").locator("td[data-label='Next run'] time")
    await expect(next_run).to_contain_text("09:00 AM GMT+9")
    # The page's viewer is in New York (the browser context's zone): 09:00 JST is 19:00 or 20:00.
    await expect(next_run).to_have_attribute(
        "title", re.compile(r"^Your time: .*(07|08):00 PM E[SD]T$")
    )


async def test_a_failed_load_says_so_and_retry_recovers(page: Page, site: Site) -> None:
    tenant = site.tenant()
    echo = tenant.endpoint(SAMPLE, "POST", "/echo")
    tenant.schedule(SAMPLE, endpointId=echo, cron="0 9 * * *", name="Recovered")

    async def unavailable(route: Route) -> None:
        await route.fulfill(
            status=503,
            content_type="application/problem+json",
            body=json.dumps({"status": 503, "title": "Service unavailable", "detail": "down"}),
        )

    await page.route("**/api/extensions/*/schedules?*", unavailable)
    await open_page(page, site, tenant.token)
    await expect(page.get_by_role("alert")).to_contain_text("Could not load schedules: down")
    await page.unroute("**/api/extensions/*/schedules?*")
    await page.get_by_role("button", name="Retry").click()
    await expect(row(page, "Recovered")).to_be_visible()
