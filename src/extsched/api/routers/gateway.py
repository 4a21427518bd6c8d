"""The HTTP gateway route ``/api/ext/{extensionId}/{path}`` (SPEC §10a): one operation per method,
all answered by the same handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from extsched.api.body import read_capped
from extsched.api.deps import principal, services
from extsched.api.openapi import problems
from extsched.auth import EXTENSION_READ, EXTENSION_WRITE, Principal
from extsched.domain.gateway import MAX_BODY_BYTES, METHODS
from extsched.errors import Forbidden, Unauthenticated
from extsched.services.caller import Caller
from extsched.services.container import Services
from extsched.services.gateway import GatewayRequest

router = APIRouter(prefix="/api/ext", tags=["gateway"])
Svc = Annotated[Services, Depends(services)]
NO_BODY = frozenset({204, 304})

ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The extension's answer: its status (any), body and `content-type`, "
        "`cache-control` and `etag` headers",
        "content": {"*/*": {"schema": {}}},
    },
    **problems(404, 413, 429, 502, 504),
}


async def gateway_principal(request: Request, p: Principal = Depends(principal)) -> Principal:
    """Read for GET and HEAD, write otherwise; client-portal users may call extensions too."""
    needed = EXTENSION_READ if request.method in ("GET", "HEAD") else EXTENSION_WRITE
    if needed not in p.permissions:
        raise Forbidden(f"missing permission {needed}")
    if p.tenant is None:
        raise Unauthenticated("the credential carries no tenant")
    return p


Caller_ = Annotated[Principal, Depends(gateway_principal)]


async def forward(
    extension_id: str, path: str, request: Request, who: Principal, svc: Services
) -> Response:
    assert who.tenant is not None
    caller = Caller(tenant_id=who.tenant, actor=who.sub)
    concrete = "/" + path
    target = await svc.gateway.target(caller, extension_id, request.method, concrete)
    body = await read_capped(request, MAX_BODY_BYTES)
    answer = await svc.gateway.call(
        caller,
        target,
        GatewayRequest(
            method=request.method,
            path=concrete,
            query=list(request.query_params.multi_items()),
            headers=list(request.headers.items()),
            body=body,
            user_type=who.user_type,
        ),
    )
    empty = request.method == "HEAD" or answer.status in NO_BODY
    return Response(
        content=b"" if empty else answer.body, status_code=answer.status, headers=answer.headers
    )


def _operation(method: str) -> Callable[..., Awaitable[Response]]:
    async def operation(
        extension_id: str, path: str, request: Request, who: Caller_, svc: Svc
    ) -> Response:
        return await forward(extension_id, path, request, who, svc)

    operation.__name__ = f"gateway_{method.lower()}"
    return operation


for _method in METHODS:
    router.add_api_route(
        "/{extension_id}/{path:path}",
        _operation(_method),
        methods=[_method],
        name=f"gateway_{_method.lower()}",
        response_class=Response,
        responses=ANSWER,
        description=f"Calls the extension's `{_method}` endpoint matching the path through the"
        " Runner" + (" (answered as GET, without the body)" if _method == "HEAD" else "") + ".",
    )
