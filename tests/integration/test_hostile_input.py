"""Hostile and broken request bodies over real HTTP: each is refused with a clear problem and
nothing is written; credentials are checked before a body is read; stored data stays readable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from extsched.api.app import create_app
from extsched.auth import EXTENSION_WRITE, mint_token
from extsched.backends.memory import MemoryJobRunner
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.domain.json_rules import NOT_FINITE, NOT_UNICODE, TOO_DEEP
from extsched.store.tables import tenant_extension_schedule as sched_t
from tests.conftest import JWT_SECRET, Persona, Personas
from tests.support.seed import installed_sample
from tests.support.served import Served, serve

BASE = "/api/extensions/acme.sample/schedules"


def nested(levels: int) -> Any:
    """An object nested ``levels`` deep: ``{"a": {"a": ... 1}}``."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def schedule_body(ext: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"endpointId": ext["endpoints"]["POST /sync"], "cron": "0 9 * * *", **fields}


async def post_text(served: Served, path: str, text: str | bytes, who: Persona) -> Any:
    body = text.encode() if isinstance(text, str) else text
    headers = {**who.headers, "content-type": "application/json"}
    return await served.client.post(path, content=body, headers=headers)


async def nothing_written(served: Served, personas: Personas) -> None:
    r = await served.client.get(BASE, headers=personas.admin_a.headers)
    assert r.json()["schedules"] == []
    r = await served.client.get("/api/tenant/audit", headers=personas.admin_a.headers)
    assert [e["action"] for e in r.json()["entries"]] == ["install.created"]


@pytest.mark.reliability(
    fault="JSON nested deeper than 64 levels",
    guarantee="422, nothing written",
)
async def test_a_body_nested_deeper_than_64_levels_is_refused_before_anything_is_written(
    served: Served, served_ext: dict[str, Any], personas: Personas
) -> None:
    h = personas.admin_a.headers
    for levels in (64, 300):  # the body adds one level to the payload's
        r = await served.client.post(
            BASE, json=schedule_body(served_ext, payloadJson=nested(levels)), headers=h
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert (r.json()["code"], r.json()["fieldErrors"]) == (
            "VALIDATION_FAILED",
            {"payloadJson": TOO_DEEP},
        )
    # Deeper than the parser itself goes.
    r = await post_text(served, BASE, "[" * 5000 + "]" * 5000, personas.admin_a)
    assert (r.status_code, r.json()["fieldErrors"]) == (422, {"body": TOO_DEEP})
    await nothing_written(served, personas)

    r = await served.client.post(
        BASE, json=schedule_body(served_ext, payloadJson=nested(63)), headers=h
    )
    assert r.status_code == 201, r.text
    created = r.json()
    r = await served.client.patch(
        f"{BASE}/{created['id']}", json={"payloadJson": nested(64)}, headers=h
    )
    assert (r.status_code, r.json()["fieldErrors"]) == (422, {"payloadJson": TOO_DEEP})
    r = await served.client.get(f"{BASE}/{created['id']}", headers=h)
    assert (r.json()["revision"], r.json()["payloadJson"]) == (1, nested(63))


async def test_a_payload_stored_deeper_than_the_rules_allow_is_still_listed_and_returned(
    served: Served, served_ext: dict[str, Any], personas: Personas
) -> None:
    """Rows written before the depth rule existed must never make the list unreadable."""
    h = personas.admin_a.headers
    r = await served.client.post(BASE, json=schedule_body(served_ext), headers=h)
    schedule_id = r.json()["id"]
    db = served.app.state.services.db
    async with db.transaction() as conn:
        await conn.execute(
            sched_t.update().where(sched_t.c.id == schedule_id).values(payload_json=nested(900))
        )
    r = await served.client.get(BASE, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["schedules"][0]["payloadJson"] == nested(900)
    r = await served.client.get(f"{BASE}/{schedule_id}", headers=h)
    assert (r.status_code, r.json()["payloadJson"]) == (200, nested(900))


@pytest.mark.reliability(
    fault="lone surrogates in any string",
    guarantee="422 naming the field",
)
@pytest.mark.parametrize(
    ("path", "method", "text", "field"),
    [
        ("/api/tenant/settings", "put", '{"defaultTimezone": "\\ud800"}', "defaultTimezone"),
        (BASE, "post", '{"name": "x\\ud800", "cron": "0 9 * * *"}', "name"),
        (BASE, "post", '{"payloadJson": {"v": ["\\udfff"]}, "cron": "0 9 * * *"}', "payloadJson"),
        (BASE, "post", '{"payloadJson": {"\\ud800": 1}, "cron": "0 9 * * *"}', "payloadJson"),
        (f"{BASE}/preview", "post", '{"cron": "0 9 * * *", "timezone": "\\ud800"}', "timezone"),
        (BASE, "post", '{"\\ud800": 1, "cron": "0 9 * * *"}', "body"),
    ],
)
async def test_a_lone_surrogate_in_any_string_is_a_field_error(
    served: Served,
    served_ext: dict[str, Any],
    personas: Personas,
    path: str,
    method: str,
    text: str,
    field: str,
) -> None:
    r = await served.client.request(
        method,
        path,
        content=text.encode(),
        headers={**personas.admin_a.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["fieldErrors"] == {field: NOT_UNICODE}
    await nothing_written(served, personas)
    settings = await served.client.get("/api/tenant/settings", headers=personas.admin_a.headers)
    assert settings.json() == {"defaultTimezone": "UTC", "schedulesPaused": False}


@pytest.mark.reliability(
    fault="NaN, Infinity and out-of-range numbers",
    guarantee="422",
)
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
async def test_numbers_that_are_not_finite_are_refused(
    served: Served, served_ext: dict[str, Any], personas: Personas, number: str
) -> None:
    endpoint = served_ext["endpoints"]["POST /sync"]
    text = f'{{"endpointId": "{endpoint}", "cron": "0 9 * * *", "payloadJson": {{"v": {number}}}}}'
    r = await post_text(served, BASE, text, personas.admin_a)
    assert (r.status_code, r.json()["fieldErrors"]) == (422, {"payloadJson": NOT_FINITE})
    await nothing_written(served, personas)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"cron": }', "the body is not valid JSON: Expecting value (line 1, column 10)"),
        ('{"cron": "0 9 * * *",}', "the body is not valid JSON: "),
        (b'{"name": "\xff"}', "the body is not UTF-8 text"),
        ("", "a JSON body is required"),
        ("[1, 2]", "expected an object"),
    ],
)
async def test_a_body_that_is_not_acceptable_json_is_a_422_with_a_readable_message(
    served: Served,
    served_ext: dict[str, Any],
    personas: Personas,
    text: str | bytes,
    message: str,
) -> None:
    r = await post_text(served, BASE, text, personas.admin_a)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert (problem["code"], problem["status"]) == ("VALIDATION_FAILED", 422)
    assert problem["fieldErrors"]["body"].startswith(message), problem
    await nothing_written(served, personas)


@pytest.mark.reliability(
    fault="an anonymous caller sending a huge body",
    guarantee="401 before a byte is read",
)
async def test_credentials_are_checked_before_a_byte_of_the_body_is_read(
    served: Served, served_ext: dict[str, Any], personas: Personas
) -> None:
    """The request announces 100 MB and sends a few bytes: the answer comes anyway, so the
    server did not wait for (or read) the body."""

    def announcing(headers: dict[str, str]) -> bytes:
        lines = [f"POST {BASE} HTTP/1.1", "host: test", "content-type: application/json"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append("content-length: 100000000")
        return ("\r\n".join(lines) + '\r\n\r\n{"cron": ').encode()

    answer = await served.raw(announcing({}))
    assert answer.startswith(b"HTTP/1.1 401")
    assert b'www-authenticate: Bearer realm="extsched"' in answer.lower().replace(
        b"bearer", b"Bearer"
    )
    answer = await served.raw(announcing(personas.reader_a.headers))
    assert answer.startswith(b"HTTP/1.1 403")
    answer = await served.raw(announcing(personas.admin_a.headers))
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"code":"PAYLOAD_TOO_LARGE"' in answer


async def test_a_body_over_the_limit_is_refused_while_it_arrives_even_without_a_length(
    settings: Settings, clock: ManualClock, personas: Personas
) -> None:
    limited = settings.model_copy(update={"max_body_bytes": 4096})
    app = create_app(limited, clock=clock, backend=MemoryJobRunner(clock), background=False)
    async with serve(app) as served:
        ext = await installed_sample(served.client, personas.operator, personas.admin_a)
        body = schedule_body(ext, name="n")
        text = json.dumps(body)
        padded = text[:-1] + " " * (4096 - len(text)) + "}"
        assert len(padded) == 4096
        r = await post_text(served, BASE, padded, personas.admin_a)
        assert r.status_code == 201, r.text  # exactly the limit is allowed

        def chunked(payload: bytes, size: int = 1000) -> bytes:
            parts = [
                b"%x\r\n%s\r\n" % (len(payload[i : i + size]), payload[i : i + size])
                for i in range(0, len(payload), size)
            ]
            head = [f"POST {BASE} HTTP/1.1", "host: test", "transfer-encoding: chunked"]
            head += [f"{k}: {v}" for k, v in personas.admin_a.headers.items()]
            return ("\r\n".join(head) + "\r\n\r\n").encode() + b"".join(parts) + b"0\r\n\r\n"

        answer = await served.raw(chunked((padded + " ").encode()))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        r = await served.client.get(BASE, headers=personas.admin_a.headers)
        assert len(r.json()["schedules"]) == 1


async def test_another_tenants_schedule_is_a_404_whatever_the_body(
    served: Served, served_ext: dict[str, Any], personas: Personas
) -> None:
    h = personas.admin_a.headers
    created = (await served.client.post(BASE, json=schedule_body(served_ext), headers=h)).json()
    url = f"{BASE}/{created['id']}"
    # Tenant B has not installed the extension at all.
    for text in ('{"cron": }', '{"cron": "* * * * *", "bogus": 1}'):
        r = await served.client.patch(
            url,
            content=text.encode(),
            headers={**personas.admin_b.headers, "content-type": "application/json"},
        )
        assert (r.status_code, r.json()["code"]) == (404, "EXTENSION_NOT_INSTALLED")
    # Tenant B installs it too: tenant A's schedule is still not found there.
    await served.client.post(
        "/api/v1/extensions/install",
        json={"registryId": served_ext["registryId"], "version": "1.0.0"},
        headers=personas.admin_b.headers,
    )
    for text in ('{"cron": }', '{"cron": "* * * * *", "bogus": 1}'):
        r = await served.client.patch(
            url,
            content=text.encode(),
            headers={**personas.admin_b.headers, "content-type": "application/json"},
        )
        assert (r.status_code, r.json()["code"]) == (404, "SCHEDULE_NOT_FOUND")


async def test_an_unexpected_failure_is_a_problem_document_too(
    served: Served, served_ext: dict[str, Any], personas: Personas
) -> None:
    async def broken(*_: Any) -> None:
        raise RuntimeError("simulated bug")

    served.app.state.services.schedules.get = broken
    r = await served.client.get(f"{BASE}/any", headers=personas.admin_a.headers)
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "INTERNAL_ERROR"
    assert "simulated" not in r.text


async def test_every_401_carries_a_bearer_challenge(served: Served, personas: Personas) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
        r = await served.client.get("/api/tenant/settings", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="extsched"'


async def test_only_iana_keys_are_time_zones(
    served: Served, served_ext: dict[str, Any], personas: Personas
) -> None:
    h = personas.admin_a.headers
    r = await served.client.put(
        "/api/tenant/settings", json={"defaultTimezone": "localtime"}, headers=h
    )
    assert (r.status_code, set(r.json()["fieldErrors"])) == (422, {"defaultTimezone"})
    r = await served.client.post(
        f"{BASE}/preview", json={"cron": "0 9 * * *", "timezone": "localtime"}, headers=h
    )
    assert (r.json()["valid"], set(r.json()["fieldErrors"])) == (False, {"timezone"})
    r = await served.client.put(
        "/api/tenant/settings", json={"defaultTimezone": "US/Eastern"}, headers=h
    )
    assert r.json()["defaultTimezone"] == "US/Eastern"


async def test_unknown_fields_of_the_config_are_refused_not_ignored(
    served: Served, served_ext: dict[str, Any], personas: Personas
) -> None:
    install_id = served_ext["install"]["id"]
    r = await served.client.put(
        f"/api/v1/extensions/{install_id}/config",
        json={"config": {"a": "b"}, "secrets": {"k": "v"}},
        headers=personas.admin_a.headers,
    )
    assert (r.status_code, r.json()["fieldErrors"]) == (422, {"secrets": "unknown field"})
    r = await served.client.get(
        f"/api/v1/extensions/{install_id}", headers=personas.admin_a.headers
    )
    assert (r.json()["config"], r.json()["hasSecrets"], r.json()["revision"]) == ({}, False, 1)


@pytest.mark.parametrize("tenant", ["t\r\nx-evil: 1", "t\u0101", "a:b"])
async def test_a_tenant_that_could_not_travel_in_a_runner_header_is_refused_at_sign_in(
    served: Served, tenant: str
) -> None:
    token = mint_token(JWT_SECRET, sub="s", tenant=tenant, permissions=[EXTENSION_WRITE])
    r = await served.client.get(
        "/api/tenant/settings", headers={"Authorization": f"Bearer {token}"}
    )
    assert (r.status_code, r.json()["detail"]) == (401, "token has an invalid tenant")
