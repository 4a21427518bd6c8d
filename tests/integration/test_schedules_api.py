from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from extsched.backends.base import schedule_key
from extsched.clock import ManualClock
from tests.conftest import Personas
from tests.support.seed import memory_backend

BASE = "/api/extensions/acme.sample/schedules"


async def create(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], **body: Any
) -> httpx.Response:
    payload = {"endpointId": ext["endpoints"]["POST /sync"], "cron": "0 9 * * *", **body}
    return await client.post(BASE, json=payload, headers=personas.admin_a.headers)


async def test_create_returns_the_full_schedule_and_registers_it_with_the_backend(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    r = await create(
        client,
        personas,
        ext,
        name="  Nightly sync ",
        timezone="america/new_york",
        payloadJson={"full": True},
    )
    assert r.status_code == 201, r.text
    s = r.json()
    assert r.headers["etag"] == '"1"'
    assert {k: s[k] for k in ("name", "cron", "timezone", "enabled", "payloadJson")} == {
        "name": "Nightly sync",
        "cron": "0 9 * * *",
        "timezone": "America/New_York",
        "enabled": True,
        "payloadJson": {"full": True},
    }
    assert (s["endpointMethod"], s["endpointPath"]) == ("POST", "/sync")
    assert s["installId"] == ext["install"]["id"]
    assert s["cronDescription"] == "At 09:00 every day"
    assert (s["maxAttempts"], s["jitterSeconds"], s["consecutiveFailures"]) == (3, 0, 0)
    # The clock stands at 2027-01-04 09:00 UTC = 04:00 in New York.
    assert s["nextRunAt"] == "2027-01-04T14:00:00Z"
    assert s["lastRunAt"] is None and s["lastRunStatus"] is None and s["disabledReason"] is None
    assert s["createdAt"] == "2027-01-04T09:00:00Z"
    key = schedule_key("tenant-a", ext["install"]["id"], s["id"])
    described = await memory_backend(app).describe(key)
    assert described is not None
    assert (described.spec.cron, described.spec.timezone, described.paused) == (
        "0 9 * * *",
        "America/New_York",
        False,
    )


async def test_every_invalid_field_is_reported_at_once(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    r = await client.post(
        BASE,
        json={
            "endpointId": ext["endpoints"]["DELETE /cache"],
            "cron": "*/2 * * * *",
            "timezone": "Nowhere/Land",
            "name": "x" * 129,
            "maxAttempts": 9,
            "jitterSeconds": -1,
            "enabled": "yes",
            "payloadJson": {"apiKey": "k"},
            "timeZone": "UTC",
        },
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "VALIDATION_FAILED"
    assert r.json()["fieldErrors"] == {
        "endpointId": "endpoint cannot be scheduled: only GET and POST endpoints can be scheduled (DELETE cannot)",
        "cron": "cron fires more often than every 5 minutes (two fires can be 2 minutes apart)",
        "timezone": "unknown time zone 'Nowhere/Land' (use an IANA name like Europe/Paris)",
        "name": "name must be at most 128 characters",
        "maxAttempts": "maxAttempts must be a whole number from 1 to 5",
        "jitterSeconds": "jitterSeconds must be a whole number from 0 to 300",
        "enabled": "enabled must be true or false",
        "payloadJson": "payloadJson key 'apiKey' looks like a credential; store credentials as install secrets (PUT /api/v1/extensions/{id}/secrets)",
        "timeZone": "unknown field",
    }
    r = await client.get(BASE, headers=personas.admin_a.headers)
    assert r.json()["schedules"] == []


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (
            "POST /items/:id",
            "endpoint cannot be scheduled: paths with parameters cannot be scheduled",
        ),
        (None, "endpointId is required"),
        ("missing", "endpoint is not part of the installed version"),
    ],
)
async def test_the_endpoint_must_be_schedulable_in_the_installed_version(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    endpoint: str | None,
    message: str,
) -> None:
    endpoint_id = ext["endpoints"].get(endpoint or "", "no-such-id") if endpoint else None
    r = await client.post(
        BASE,
        json={"endpointId": endpoint_id, "cron": "0 * * * *"},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 422
    assert r.json()["fieldErrors"] == {"endpointId": message}


async def test_a_get_endpoint_takes_no_payload_not_even_an_empty_one(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    r = await create(
        client, personas, ext, endpointId=ext["endpoints"]["GET /status"], payloadJson={}
    )
    assert r.status_code == 422
    assert r.json()["fieldErrors"] == {
        "payloadJson": "GET endpoints take no payload (a GET request has no body)"
    }
    r = await create(client, personas, ext, endpointId=ext["endpoints"]["GET /status"])
    assert r.status_code == 201
    # Switching a schedule with a payload to a GET endpoint is refused too.
    r = await create(client, personas, ext, name="p", payloadJson=[1])
    r = await client.patch(
        f"{BASE}/{r.json()['id']}",
        json={"endpointId": ext["endpoints"]["GET /status"]},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 422
    assert set(r.json()["fieldErrors"]) == {"payloadJson"}


async def test_the_time_zone_defaults_to_the_tenants_then_utc(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    r = await create(client, personas, ext, name="a")
    assert r.json()["timezone"] == "UTC"
    r = await client.put(
        "/api/tenant/settings",
        json={"defaultTimezone": "europe/paris"},
        headers=personas.admin_a.headers,
    )
    assert r.json() == {"defaultTimezone": "Europe/Paris", "schedulesPaused": False}
    r = await create(client, personas, ext, name="b")
    assert r.json()["timezone"] == "Europe/Paris"


async def test_names_are_unique_per_install(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    assert (await create(client, personas, ext, name="nightly")).status_code == 201
    r = await create(client, personas, ext, name=" nightly ")
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "NAME_TAKEN"
    assert body["fieldErrors"] == {
        "name": "a schedule named 'nightly' already exists for this extension"
    }
    # Unnamed schedules never collide.
    assert (await create(client, personas, ext)).status_code == 201
    assert (await create(client, personas, ext, name="  ")).status_code == 201
    other = (await create(client, personas, ext, name="other")).json()
    r = await client.patch(
        f"{BASE}/{other['id']}", json={"name": "nightly"}, headers=personas.admin_a.headers
    )
    assert (r.status_code, r.json()["code"]) == (409, "NAME_TAKEN")


async def test_validation_comes_before_conflicts(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    await create(client, personas, ext, name="dup")
    r = await create(client, personas, ext, name="dup", cron="bad")
    assert r.status_code == 422


async def test_patch_updates_a_subset_and_null_clears_name_and_payload(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    s = (await create(client, personas, ext, name="n", payloadJson={"a": 1})).json()
    r = await client.patch(
        f"{BASE}/{s['id']}",
        json={"cron": "*/15 * * * *", "name": None, "payloadJson": None, "timezone": "Asia/Tokyo"},
        headers={**personas.admin_a.headers, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    u = r.json()
    assert (u["cron"], u["name"], u["payloadJson"], u["timezone"], u["revision"]) == (
        "*/15 * * * *",
        None,
        None,
        "Asia/Tokyo",
        2,
    )
    assert r.headers["etag"] == '"2"'
    assert u["nextRunAt"] == "2027-01-04T09:15:00Z"
    key = schedule_key("tenant-a", ext["install"]["id"], s["id"])
    described = await memory_backend(app).describe(key)
    assert described is not None and described.spec.cron == "*/15 * * * *"
    r = await client.patch(
        f"{BASE}/{s['id']}", json={"cron": None}, headers=personas.admin_a.headers
    )
    assert (r.status_code, r.json()["fieldErrors"]) == (422, {"cron": "cron is required"})


async def test_a_stale_revision_is_a_conflict_and_changes_nothing(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    s = (await create(client, personas, ext)).json()
    h = personas.admin_a.headers
    await client.patch(f"{BASE}/{s['id']}", json={"name": "first"}, headers={**h, "If-Match": "1"})
    r = await client.patch(
        f"{BASE}/{s['id']}", json={"name": "second"}, headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 409
    assert (r.json()["code"], r.json()["currentRevision"]) == ("REVISION_CONFLICT", 2)
    r = await client.delete(f"{BASE}/{s['id']}", headers={**h, "If-Match": '"1"'})
    assert r.status_code == 409
    r = await client.get(f"{BASE}/{s['id']}", headers=h)
    assert (r.json()["name"], r.json()["revision"]) == ("first", 2)
    r = await client.patch(f"{BASE}/{s['id']}", json={}, headers={**h, "If-Match": "junk"})
    assert (r.status_code, set(r.json()["fieldErrors"])) == (422, {"If-Match"})


async def test_disabling_pauses_the_backend_and_clears_next_run(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    s = (await create(client, personas, ext)).json()
    key = schedule_key("tenant-a", ext["install"]["id"], s["id"])
    r = await client.patch(
        f"{BASE}/{s['id']}", json={"enabled": False}, headers=personas.admin_a.headers
    )
    assert (r.json()["enabled"], r.json()["nextRunAt"]) == (False, None)
    described = await memory_backend(app).describe(key)
    assert described is not None and described.paused is True
    r = await client.patch(
        f"{BASE}/{s['id']}", json={"enabled": True}, headers=personas.admin_a.headers
    )
    assert r.json()["nextRunAt"] == "2027-01-05T09:00:00Z"
    described = await memory_backend(app).describe(key)
    assert described is not None and described.paused is False


async def test_delete_removes_the_schedule_from_db_and_backend(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    s = (await create(client, personas, ext)).json()
    r = await client.delete(f"{BASE}/{s['id']}", headers=personas.admin_a.headers)
    assert r.status_code == 204
    r = await client.get(f"{BASE}/{s['id']}", headers=personas.admin_a.headers)
    assert (r.status_code, r.json()["code"]) == (404, "SCHEDULE_NOT_FOUND")
    assert await memory_backend(app).list_keys() == []
    r = await client.delete(f"{BASE}/{s['id']}", headers=personas.admin_a.headers)
    assert r.status_code == 404


async def test_list_paginates_and_filters(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], clock: ManualClock
) -> None:
    from datetime import timedelta

    ids = []
    for i in range(5):
        clock.advance(timedelta(seconds=1))
        ids.append(
            (await create(client, personas, ext, name=f"s{i}", enabled=i % 2 == 0)).json()["id"]
        )
    h = personas.admin_a.headers
    r = await client.get(BASE, params={"limit": 2}, headers=h)
    page1 = r.json()
    assert [s["id"] for s in page1["schedules"]] == ids[:2]
    r = await client.get(BASE, params={"limit": 2, "cursor": page1["nextCursor"]}, headers=h)
    page2 = r.json()
    r = await client.get(BASE, params={"limit": 2, "cursor": page2["nextCursor"]}, headers=h)
    page3 = r.json()
    assert [s["id"] for s in page2["schedules"] + page3["schedules"]] == ids[2:]
    assert page3["nextCursor"] is None
    r = await client.get(BASE, params={"enabled": "false"}, headers=h)
    assert [s["name"] for s in r.json()["schedules"]] == ["s1", "s3"]
    r = await client.get(BASE, params={"limit": 201}, headers=h)
    assert (r.status_code, set(r.json()["fieldErrors"])) == (422, {"limit"})
    r = await client.get(BASE, params={"cursor": "%%%"}, headers=h)
    assert (r.status_code, set(r.json()["fieldErrors"])) == (422, {"cursor"})


async def test_runs_of_a_new_schedule_are_an_empty_page(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    s = (await create(client, personas, ext)).json()
    r = await client.get(f"{BASE}/{s['id']}/runs", headers=personas.reader_a.headers)
    assert r.json() == {"runs": [], "nextCursor": None}


async def test_bulk_toggles_all_schedules_and_counts_only_changes(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    await create(client, personas, ext, name="a")
    await create(client, personas, ext, name="b", enabled=False)
    h = personas.admin_a.headers
    r = await client.post(f"{BASE}/bulk", json={"enabled": False}, headers=h)
    assert r.json() == {"updated": 1}
    assert all(paused for _, paused in memory_backend(app).schedules.values())
    r = await client.post(f"{BASE}/bulk", json={"enabled": True}, headers=h)
    assert r.json() == {"updated": 2}
    assert not any(paused for _, paused in memory_backend(app).schedules.values())
    r = await client.post(f"{BASE}/bulk", json={"enabled": "on"}, headers=h)
    assert r.status_code == 422


async def test_preview_lists_occurrences_in_utc_and_local_time(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], clock: ManualClock
) -> None:
    from datetime import UTC, datetime

    clock.set(datetime(2027, 3, 13, 12, 0, tzinfo=UTC))
    r = await client.post(
        f"{BASE}/preview",
        json={"cron": "30 2 * * *", "timezone": "America/New_York", "count": 2},
        headers=personas.reader_a.headers,
    )
    assert r.status_code == 200
    assert r.json() == {
        "valid": True,
        "description": "At 02:30 every day",
        "occurrences": [
            {"utc": "2027-03-14T07:00:00Z", "local": "2027-03-14T03:00:00-04:00"},
            {"utc": "2027-03-15T06:30:00Z", "local": "2027-03-15T02:30:00-04:00"},
        ],
    }


async def test_preview_of_invalid_input_is_a_200_with_field_errors(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    r = await client.post(
        f"{BASE}/preview",
        json={"cron": "* * * * *", "timezone": "Nope"},
        headers=personas.reader_a.headers,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["valid"] is False
    assert set(body["fieldErrors"]) == {"cron", "timezone"}
    assert body["occurrences"] == []
    r = await client.post(
        f"{BASE}/preview",
        json={"cron": "0 * * * *", "count": 51},
        headers=personas.reader_a.headers,
    )
    assert (r.status_code, set(r.json()["fieldErrors"])) == (422, {"count"})
    r = await client.post(
        f"{BASE}/preview", json={"cron": "0 * * * *"}, headers=personas.reader_a.headers
    )
    assert len(r.json()["occurrences"]) == 5


async def test_quota_per_install(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    app.state.services.schedules.max_per_install = 2
    assert (await create(client, personas, ext)).status_code == 201
    assert (await create(client, personas, ext)).status_code == 201
    r = await create(client, personas, ext, name="third")
    assert (r.status_code, r.json()["code"], r.json()["limit"]) == (409, "QUOTA_EXCEEDED", 2)
    # The refused create wrote nothing: no row, no backend entry, no audit entry.
    h = personas.admin_a.headers
    assert len((await client.get(BASE, headers=h)).json()["schedules"]) == 2
    assert len(await memory_backend(app).list_keys()) == 2
    entries = (await client.get("/api/tenant/audit", headers=h)).json()["entries"]
    assert [e["action"] for e in entries].count("schedule.created") == 2
    # A name taken is told before a quota exceeded.
    app.state.services.schedules.max_per_install = 3
    assert (await create(client, personas, ext, name="third")).status_code == 201
    r = await create(client, personas, ext, name="third")
    assert (r.status_code, r.json()["code"]) == (409, "NAME_TAKEN")


async def test_schedules_of_a_disabled_install_stay_listable_and_editable(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    s = (await create(client, personas, ext)).json()
    h = personas.admin_a.headers
    await client.post(f"/api/v1/extensions/{ext['install']['id']}/disable", headers=h)
    key = schedule_key("tenant-a", ext["install"]["id"], s["id"])
    described = await memory_backend(app).describe(key)
    assert described is not None and described.paused is True
    r = await client.get(BASE, headers=h)
    assert r.json()["schedules"][0]["enabled"] is True
    assert r.json()["schedules"][0]["nextRunAt"] is None
    r = await client.patch(f"{BASE}/{s['id']}", json={"cron": "0 10 * * *"}, headers=h)
    assert r.status_code == 200
    assert (await create(client, personas, ext)).status_code == 201
    await client.post(f"/api/v1/extensions/{ext['install']['id']}/enable", headers=h)
    described = await memory_backend(app).describe(key)
    assert described is not None and (described.paused, described.spec.cron) == (
        False,
        "0 10 * * *",
    )


async def test_the_kill_switch_pauses_every_schedule_of_the_tenant(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    s = (await create(client, personas, ext)).json()
    h = personas.admin_a.headers
    r = await client.put("/api/tenant/settings", json={"schedulesPaused": True}, headers=h)
    assert r.json()["schedulesPaused"] is True
    assert all(paused for _, paused in memory_backend(app).schedules.values())
    r = await client.get(f"{BASE}/{s['id']}", headers=h)
    assert (r.json()["enabled"], r.json()["nextRunAt"]) == (True, None)
    r = await client.get("/api/tenant/settings", headers=personas.admin_b.headers)
    assert r.json() == {"defaultTimezone": "UTC", "schedulesPaused": False}
    r = await client.put("/api/tenant/settings", json={"schedulesPaused": "yes", "x": 1}, headers=h)
    assert (r.status_code, set(r.json()["fieldErrors"])) == (422, {"schedulesPaused", "x"})


async def test_uninstall_removes_schedules_and_their_backend_entries(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], app: FastAPI
) -> None:
    await create(client, personas, ext)
    assert len(await memory_backend(app).list_keys()) == 1
    r = await client.post(
        "/api/v1/extensions/uninstall",
        json={"registryId": ext["registryId"]},
        headers=personas.admin_a.headers,
    )
    assert r.status_code == 204
    assert await memory_backend(app).list_keys() == []


async def test_schedule_changes_are_audited_with_changed_fields_only(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    s = (await create(client, personas, ext, payloadJson={"big": "x" * 50})).json()
    h = personas.admin_a.headers
    await client.patch(
        f"{BASE}/{s['id']}", json={"cron": "0 10 * * *", "name": "renamed"}, headers=h
    )
    await client.post(f"{BASE}/bulk", json={"enabled": False}, headers=h)
    await client.delete(f"{BASE}/{s['id']}", headers=h)
    await client.put("/api/tenant/settings", json={"schedulesPaused": True}, headers=h)
    entries = (await client.get("/api/tenant/audit", headers=h)).json()["entries"]
    by_action = {e["action"]: e for e in entries}
    created = by_action["schedule.created"]
    assert created["targetType"] == "schedule" and created["targetId"] == s["id"]
    assert created["details"]["before"] is None
    assert created["details"]["after"]["cron"] == "0 9 * * *"
    summary = created["details"]["after"]["payloadJson"]
    assert set(summary) == {"type", "size", "sha256"} and "x" * 50 not in str(created)
    assert by_action["schedule.updated"]["details"] == {
        "before": {"name": None, "cron": "0 9 * * *"},
        "after": {"name": "renamed", "cron": "0 10 * * *"},
    }
    bulk = by_action["schedules.bulk_updated"]
    assert (bulk["targetType"], bulk["targetId"], bulk["details"]["scheduleIds"]) == (
        "install",
        ext["install"]["id"],
        [s["id"]],
    )
    assert by_action["schedule.deleted"]["details"]["after"] is None
    assert by_action["tenant.settings_updated"]["details"] == {
        "before": {"schedulesPaused": False},
        "after": {"schedulesPaused": True},
    }
    assert by_action["tenant.settings_updated"]["targetType"] == "tenant"
    assert all(e["actor"] == "alice" for e in entries)


async def test_a_backend_failure_after_commit_is_retried_from_the_intent(
    client: httpx.AsyncClient,
    personas: Personas,
    ext: dict[str, Any],
    app: FastAPI,
    clock: ManualClock,
) -> None:
    from datetime import timedelta

    runner = memory_backend(app)
    runner.fail_next = 1
    r = await create(client, personas, ext)
    assert r.status_code == 201  # the schedule is saved; the backend catches up later
    sync = app.state.services.sync
    assert await runner.list_keys() == []
    assert await sync.pending("tenant-a") == 1
    assert (await sync.apply_due()).applied == 0  # not due yet: backing off
    clock.advance(timedelta(seconds=9))
    assert (await sync.apply_due()).applied == 0  # the one back-off policy: 10 s first
    clock.advance(timedelta(seconds=2))
    outcome = await sync.apply_due()
    assert (outcome.applied, outcome.failed) == (1, 0)
    assert await sync.pending() == 0
    assert await runner.list_keys() == [
        schedule_key("tenant-a", ext["install"]["id"], r.json()["id"])
    ]
