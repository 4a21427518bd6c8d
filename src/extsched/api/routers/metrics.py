"""Prometheus metrics; no credentials (scrape from inside the network)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from extsched.api.deps import services
from extsched.services.container import Services
from extsched.store.run_repo import RunRepo
from extsched.store.tables import tenant_extension_install as inst_t
from extsched.store.tables import tenant_extension_schedule as sched_t
from extsched.store.tables import tenant_settings as settings_t

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(svc: Annotated[Services, Depends(services)]) -> Response:
    async with svc.db.connect() as conn:
        svc.metrics.queue_depth.set(await RunRepo(conn).queue_depth(svc.clock.now()))
        # enabled / disabled by the user or the system / paused by the install or the kill switch
        paused_install = sa.not_(inst_t.c.enabled) | sa.func.coalesce(
            settings_t.c.schedules_paused, False
        )
        state = sa.case(
            (sa.not_(sched_t.c.enabled), "disabled"),
            (paused_install, "paused"),
            else_="enabled",
        )
        q = (
            sa.select(state.label("state"), sa.func.count())
            .select_from(
                sched_t.join(
                    inst_t,
                    (inst_t.c.tenant_id == sched_t.c.tenant_id)
                    & (inst_t.c.id == sched_t.c.install_id),
                ).outerjoin(settings_t, settings_t.c.tenant_id == sched_t.c.tenant_id)
            )
            .group_by(state)
        )
        counts = {row[0]: row[1] for row in await conn.execute(q)}
    for name in ("enabled", "disabled", "paused"):
        svc.metrics.schedules.labels(state=name).set(counts.get(name, 0))
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)
