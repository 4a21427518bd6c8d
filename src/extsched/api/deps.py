"""Request dependencies: the principal, permission checks, the caller, the services.

Checks run in the order SPEC §8 fixes: 401, then 403, then lookups (404), then validation.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from extsched.auth import PLATFORM_ADMIN, Principal
from extsched.errors import Forbidden, Unauthenticated, ValidationFailed
from extsched.services.caller import Caller
from extsched.services.container import Services


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def principal(request: Request) -> Principal:
    svc = services(request)
    return await svc.authenticator.verify(request.headers.get("authorization"))


# Cached: one dependency per permission, so FastAPI runs it once per request wherever it is used.
@cache
def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting MSP users who hold ``permission`` (client-portal users never)."""

    async def check(p: Principal = Depends(principal)) -> Principal:
        if p.is_client:
            raise Forbidden("client-portal users cannot manage extensions")
        if permission not in p.permissions:
            raise Forbidden(f"missing permission {permission}")
        if permission != PLATFORM_ADMIN and p.tenant is None:
            raise Unauthenticated("the credential carries no tenant")
        return p

    return check


@cache
def caller_for(permission: str) -> Callable[..., Awaitable[Caller]]:
    checker = require(permission)

    # Closures' annotations are strings FastAPI cannot resolve; the default carries the dependency.
    async def resolve(p: Principal = Depends(checker)) -> Caller:
        assert p.tenant is not None
        return Caller(tenant_id=p.tenant, actor=p.sub)

    return resolve


Limit = Annotated[int | None, Query(ge=1, le=200, description="Page size, default 50")]
Cursor = Annotated[str | None, Query(description="The nextCursor of the previous page")]

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')


def if_match(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """The revision in ``If-Match``: the ETag ``"3"`` or the bare ``3``; absent means no check."""
    if if_match is None or if_match.strip() == "*":
        return None
    m = _ETAG.match(if_match)
    if m is None:
        raise ValidationFailed(field_errors={"If-Match": 'expected an ETag like "3" or a revision'})
    return int(m.group(1))


def etag(revision: int) -> str:
    return f'"{revision}"'
