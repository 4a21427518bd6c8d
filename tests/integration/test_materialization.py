from __future__ import annotations

import sqlalchemy as sa

from extsched.clock import ManualClock
from extsched.services.registry import RegistryService
from extsched.store.db import Database
from extsched.store.tables import extension_api_endpoint
from tests.support.seed import content_hash, manifest


async def test_backfill_is_idempotent_and_keeps_endpoint_ids(
    db: Database, clock: ManualClock
) -> None:
    svc = RegistryService(db, clock)
    ext = await svc.create_extension("acme", "sample")
    version, rows = await svc.publish_version(
        ext.id, version="1.0.0", content_hash=content_hash("1"), manifest=manifest()
    )
    first = [e.id for e in rows]
    assert len(first) == 4

    assert await svc.backfill_endpoints() == {version.id: first}
    assert await svc.backfill_endpoints(version.id) == {version.id: first}
    async with db.connect() as conn:
        count = (
            await conn.execute(sa.select(sa.func.count()).select_from(extension_api_endpoint))
        ).scalar_one()
    assert count == 4


async def test_backfill_recreates_rows_for_a_version_that_has_none(
    db: Database, clock: ManualClock
) -> None:
    svc = RegistryService(db, clock)
    ext = await svc.create_extension("acme", "legacy")
    version, _ = await svc.publish_version(
        ext.id, version="0.9.0", content_hash=content_hash("0"), manifest=manifest()
    )
    # A version created before the endpoint table existed has no rows.
    async with db.transaction() as conn:
        await conn.execute(extension_api_endpoint.delete())
    result = await svc.backfill_endpoints(version.id)
    assert len(result[version.id]) == 4
    assert [e.id for e in await svc.version_endpoints(version.id)] != []
    again = await svc.backfill_endpoints(version.id)
    assert again == result
