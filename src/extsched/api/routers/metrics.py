"""Prometheus metrics; no credentials (scrape from inside the network)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from extsched.api.deps import services
from extsched.services.container import Services

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(svc: Annotated[Services, Depends(services)]) -> Response:
    return Response(await svc.observer.render(), media_type=CONTENT_TYPE_LATEST)
