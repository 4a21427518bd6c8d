"""Hostile data (issue 15): text no database holds, odd Unicode and traversal in manifests and
time zones. (Header injection: test_gateway.py and test_engine.py; memory under many oversized
uploads: tests/e2e/test_upload_memory.py.) Each is refused with a field error or carried as plain data; nothing
is half-written and no answer is a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Personas
from tests.support.seed import content_hash

BASE = "/api/extensions/acme.sample/schedules"
NUL = "a\u0000b"


@pytest.mark.reliability(
    fault="NUL characters in names, payloads, cron, zones, config, manifests",
    guarantee="422 naming the field; nothing stored (PostgreSQL would refuse the text)",
)
async def test_nul_in_any_body_text_is_a_field_error_and_nothing_is_stored(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    h = personas.admin_a.headers
    sync = ext["endpoints"]["POST /sync"]
    for field, value in (
        ("name", NUL),
        ("payloadJson", {"note": NUL}),
        ("payloadJson", {NUL: 1}),
        ("cron", NUL),
        ("timezone", NUL),
    ):
        r = await client.post(
            BASE, json={"endpointId": sync, "cron": "0 9 * * *", field: value}, headers=h
        )
        assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_FAILED"), field
        assert field in r.json()["fieldErrors"], (field, r.json())
    assert (await client.get(BASE, headers=h)).json()["schedules"] == []
    r = await client.put(
        f"/api/v1/extensions/{ext['install']['id']}/config", json={"config": {"k": NUL}}, headers=h
    )
    assert (r.status_code, set(r.json()["fieldErrors"])) == (422, {"config"})
    r = await client.post(
        f"/api/registry/extensions/{ext['registryId']}/versions",
        json={
            "version": "9.9.9",
            "contentHash": content_hash("nul"),
            "manifest": {
                "api": {"endpoints": [{"method": "POST", "path": "/x" + NUL, "handler": "h"}]}
            },
        },
        headers=personas.operator.headers,
    )
    assert r.status_code == 422
    versions = await client.get(
        f"/api/registry/extensions/{ext['registryId']}/versions", headers=personas.operator.headers
    )
    assert [v["version"] for v in versions.json()["versions"]] == ["1.0.0"]


@pytest.mark.reliability(
    fault="NUL characters in URL paths and queries",
    guarantee="404 for a path, 422 for a query; never a 500",
)
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/extensions/a%00b/schedules", 404),
        (f"{BASE}/x%00y", 404),
        ("/api/v1/extensions/a%00", 404),
        ("/api/ext/acme.sample/sy%00nc", 404),
        ("/api/registry/extensions/a%00", 404),
        (f"{BASE}?status=%00", 422),
    ],
)
async def test_nul_in_a_url_names_nothing(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], path: str, status: int
) -> None:
    r = await client.get(path, headers=personas.admin_a.headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.reliability(
    fault="path traversal, whitespace and odd Unicode in manifest paths",
    guarantee="traversal and whitespace refused (400 INVALID_MANIFEST); other text kept verbatim as data",
)
@pytest.mark.parametrize(
    ("path", "accepted"),
    [
        ("../secrets", False),
        ("/a/../b", False),
        ("/a/..", False),
        ("/a\u2028b", False),  # a line separator is whitespace
        ("/a\tb", False),
        ("/café/ünïcode", True),
        ("/%2e%2e/literal", True),  # no traversal: a literal segment, matched literally
        ("/\u202eevil", True),  # shown as text in the UI, never interpreted
    ],
)
async def test_manifest_paths_refuse_traversal_and_whitespace_and_keep_other_text_as_is(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], path: str, accepted: bool
) -> None:
    r = await client.post(
        f"/api/registry/extensions/{ext['registryId']}/versions",
        json={
            "version": "2.0.0",
            "contentHash": content_hash(path),
            "manifest": {"api": {"endpoints": [{"method": "POST", "path": path, "handler": "h"}]}},
        },
        headers=personas.operator.headers,
    )
    if accepted:
        assert r.status_code == 201, r.text
        assert [e["path"] for e in r.json()["endpoints"]] == [path]
    else:
        assert (r.status_code, r.json()["code"]) == (400, "INVALID_MANIFEST"), r.text


@pytest.mark.reliability(
    fault="traversal, file paths, zero-width and fullwidth text as time zones",
    guarantee="only keys of the IANA database are zones",
)
@pytest.mark.parametrize(
    "zone",
    [
        "../../etc/passwd",
        "America/../Europe/Paris",
        "/usr/share/zoneinfo/UTC",
        "Europe/Paris\u200b",
        "\uff35\uff34\uff23",  # UTC in fullwidth letters
        "posixrules",
        "Europe/ Paris",
    ],
)
async def test_time_zones_are_only_iana_keys(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any], zone: str
) -> None:
    r = await client.post(
        f"{BASE}/preview",
        json={"cron": "0 9 * * *", "timezone": zone},
        headers=personas.admin_a.headers,
    )
    assert (r.status_code, r.json()["valid"], set(r.json()["fieldErrors"])) == (
        200,
        False,
        {"timezone"},
    )


@pytest.mark.reliability(
    fault="SQL, HTML and script text in names, payloads, config and manifest paths",
    guarantee="stored and returned exactly as data (the settings page shows it as text: "
    "tests/browser)",
)
async def test_sql_and_markup_text_is_stored_and_returned_as_data(
    client: httpx.AsyncClient, personas: Personas, ext: dict[str, Any]
) -> None:
    h = personas.admin_a.headers
    texts = [
        "'; DROP TABLE tenant_extension_schedule; --",
        '" OR 1=1 --',
        "<script>alert(1)</script>",
        "${jndi:ldap://x}",
        "%s%n%x",
    ]
    made = []
    for i, text in enumerate(texts):
        r = await client.post(
            BASE,
            json={
                "endpointId": ext["endpoints"]["POST /sync"],
                "cron": f"{i} 9 * * *",
                "name": text,
                "payloadJson": {text: text},
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    for sid, text in zip(made, texts, strict=True):
        got = (await client.get(f"{BASE}/{sid}", headers=h)).json()
        assert (got["name"], got["payloadJson"]) == (text, {text: text})
    listed = (await client.get(BASE, headers=h)).json()["schedules"]
    assert sorted(s["name"] for s in listed) == sorted(texts)
    r = await client.put(
        f"/api/v1/extensions/{ext['install']['id']}/config",
        json={"config": {t: t for t in texts}},
        headers=h,
    )
    assert r.json()["config"] == {t: t for t in texts}
