from __future__ import annotations

import time

import httpx
import jwt
import pytest

from extsched.auth import EXTENSION_READ, mint_token
from tests.conftest import JWT_SECRET, Personas

ROUTE = "/api/tenant/audit"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "u1",
        "tenant": "tenant-a",
        "user_type": "msp",
        "permissions": [EXTENSION_READ],
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.reliability(
    fault="forged, expired, not-yet-valid or malformed JWTs; tenants and subjects that could inject headers",
    guarantee="401 UNAUTHENTICATED with a stable detail",
)
@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing Authorization header"),
        ({"Authorization": "Basic dTpw"}, "expected 'Authorization: Bearer <token>'"),
        ({"Authorization": "Bearer "}, "expected 'Authorization: Bearer <token>'"),
        (bearer("not-a-jwt"), "invalid token"),
        (
            bearer(jwt.encode(claims(), "another-secret-entirely-000000000", "HS256")),
            "invalid token",
        ),
        (
            bearer(jwt.encode(claims(exp=int(time.time()) - 10), JWT_SECRET, "HS256")),
            "token expired",
        ),
        (bearer(jwt.encode(claims(exp=None), JWT_SECRET, "HS256")), "invalid token"),
        (
            bearer(jwt.encode(claims(nbf=int(time.time()) + 3600), JWT_SECRET, "HS256")),
            "invalid token",
        ),
        (bearer(jwt.encode(claims(sub=None), JWT_SECRET, "HS256")), "invalid token"),
        (
            bearer(jwt.encode(claims(user_type="robot"), JWT_SECRET, "HS256")),
            "token has an unknown user_type",
        ),
        (
            bearer(jwt.encode(claims(permissions="all"), JWT_SECRET, "HS256")),
            "token permissions must be a list of strings",
        ),
        (
            bearer(jwt.encode(claims(tenant=None), JWT_SECRET, "HS256")),
            "the credential carries no tenant",
        ),
        (bearer(jwt.encode(claims(), JWT_SECRET * 2, "HS512")), "invalid token"),
        *[
            (
                bearer(jwt.encode(claims(tenant=tenant), JWT_SECRET, "HS256")),
                "token has an invalid tenant",
            )
            for tenant in ("t\r\nx-evil: 1", "t\n", "t\u0101", "a:b", "a b", "", "t" * 65, 7)
        ],
        *[
            (
                bearer(jwt.encode(claims(sub=sub), JWT_SECRET, "HS256")),
                "token has an invalid subject",
            )
            for sub in ("u\r\nforged line", "u\x1b[31m", "u\n")
        ],
    ],
)
async def test_every_bad_credential_is_401_unauthenticated(
    client: httpx.AsyncClient, headers: dict[str, str], detail: str
) -> None:
    r = await client.get(ROUTE, headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert (r.json()["code"], r.json()["detail"]) == ("UNAUTHENTICATED", detail)


@pytest.mark.reliability(
    fault="JWT alg none",
    guarantee="refused",
)
async def test_the_alg_none_trick_is_refused(client: httpx.AsyncClient) -> None:
    token = jwt.encode(claims(), None, algorithm="none")
    r = await client.get(ROUTE, headers=bearer(token))
    assert r.status_code == 401


async def test_a_missing_permission_is_403(client: httpx.AsyncClient) -> None:
    token = mint_token(JWT_SECRET, sub="x", tenant="tenant-a", permissions=[])
    r = await client.get(ROUTE, headers=bearer(token))
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")


async def test_client_portal_users_are_forbidden_even_for_reads(
    client: httpx.AsyncClient, personas: Personas
) -> None:
    r = await client.get(ROUTE, headers=personas.client_a.headers)
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")


async def test_readers_cannot_write(client: httpx.AsyncClient, personas: Personas) -> None:
    r = await client.post(
        "/api/v1/extensions/install",
        json={"registryId": "x", "version": "1"},
        headers=personas.reader_a.headers,
    )
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")


async def test_auth_errors_come_before_validation_errors(
    client: httpx.AsyncClient, personas: Personas
) -> None:
    r = await client.post("/api/v1/extensions/install", json={"bad": True})
    assert r.status_code == 401
    r = await client.post(
        "/api/v1/extensions/install", json={"bad": True}, headers=personas.reader_a.headers
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/extensions/install", json={"bad": True}, headers=personas.admin_a.headers
    )
    assert r.status_code == 422
    assert set(r.json()["fieldErrors"]) == {"registryId", "version", "bad"}
    assert r.json()["fieldErrors"]["bad"] == "unknown field"


async def test_health_and_openapi_need_no_credential(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert (r.status_code, r.json()["checks"]) == (200, {"database": "ok", "backend": "ok"})
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/extensions/install" in spec["paths"]
    assert "/api/extensions/{extension_id}/endpoints" in spec["paths"]


async def test_unknown_routes_are_problem_documents(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "NOT_FOUND"


async def test_a_tenant_of_printable_latin1_is_accepted(client: httpx.AsyncClient) -> None:
    token = jwt.encode(claims(tenant="Tenant_42-é.x", sub="Zoë Müller"), JWT_SECRET, "HS256")
    r = await client.get("/api/tenant/settings", headers=bearer(token))
    assert r.status_code == 200
