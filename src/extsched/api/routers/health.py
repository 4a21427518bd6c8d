"""Liveness and readiness; no credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from extsched.api.deps import services
from extsched.api.schemas.base import reply
from extsched.api.schemas.health import Health, Readiness
from extsched.services.container import Services

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Response:
    return reply(Health(status="ok"))


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready; `checks` says what failed"}},
)
async def readyz(svc: Annotated[Services, Depends(services)]) -> Response:
    checks = await svc.observer.readiness()
    ready = all(v == "ok" for v in checks.values())
    return reply(
        Readiness(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503
    )
