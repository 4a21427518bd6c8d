"""API latency with 100,000 schedules stored across 2,000 tenants (50 per install).

    .venv/bin/python bench/api.py [--database sqlite|postgres]

Requests go through the whole app in-process (ASGI, auth, validation, database), on SQLite by
default. Prints p50/p95 per operation and appends them to bench/RESULTS.md. Targets (issue 6):
list ≤ 20 ms, create/patch ≤ 25 ms, preview ≤ 10 ms at p95.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.postgres import PostgresServer  # noqa: E402

from bench.burst import commit, machine  # noqa: E402
from bench.common import (  # noqa: E402
    ADMIN,
    SECRET,
    append_results,
    bearer,
    in_process,
    pct,
    publish_sample,
    yearly_rows,
)
from extsched.config import Settings  # noqa: E402
from extsched.ids import new_id  # noqa: E402
from extsched.store.tables import (  # noqa: E402
    embedded_schedule,
    tenant_extension_install,
    tenant_extension_schedule,
)

TENANTS = 2_000
PER_TENANT = 50
SAMPLES = 200


async def timed(
    samples: list[float], call: Callable[[], Awaitable[httpx.Response]], ok: int
) -> None:
    start = time.perf_counter()
    r = await call()
    samples.append(time.perf_counter() - start)
    assert r.status_code == ok, r.text


async def run(url: str) -> dict[str, list[float]]:
    settings = Settings(database_url=url, jwt_secret=SECRET)
    async with in_process(settings) as c:
        svc = c.app.state.services  # type: ignore[attr-defined]
        ext, version = await publish_sample(c)
        endpoint_id = version["endpoints"][0]["id"]
        now = datetime.now(UTC)
        installs, schedules, emb = [], [], []
        tenant_ids = [f"t{t:05d}" for t in range(TENANTS + SAMPLES)]
        first: dict[str, str] = {}
        for i, tenant in enumerate(tenant_ids):
            install_id = new_id()
            installs.append(
                {
                    "tenant_id": tenant,
                    "id": install_id,
                    "registry_id": ext["id"],
                    "version_id": version["id"],
                    "enabled": True,
                    "config": {},
                    "granted_caps": [],
                    "secret_envelope": None,
                    "revision": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            # The extra SAMPLES tenants start empty, for the create measurements.
            for _ in range(PER_TENANT if i < TENANTS else 0):
                schedule, backend = yearly_rows(tenant, install_id, endpoint_id, now, {"k": 1})
                first.setdefault(tenant, schedule["id"])
                schedules.append(schedule)
                emb.append(backend)
        async with svc.db.transaction() as conn:
            await conn.execute(tenant_extension_install.insert(), installs)
        for i in range(0, len(schedules), 5000):
            async with svc.db.transaction() as conn:
                await conn.execute(tenant_extension_schedule.insert(), schedules[i : i + 5000])
                await conn.execute(embedded_schedule.insert(), emb[i : i + 5000])
        print(f"stored {len(schedules)} schedules across {TENANTS} tenants", flush=True)

        results: dict[str, list[float]] = {
            k: [] for k in ("list", "create", "patch", "preview", "run-now")
        }
        base = "/api/extensions/b.x/schedules"
        step = TENANTS // SAMPLES
        for n in range(SAMPLES):
            tenant = tenant_ids[n * step]
            h = bearer(tenant, ADMIN)
            fresh = bearer(tenant_ids[TENANTS + n], ADMIN)
            sid = first[tenant]
            await timed(results["list"], lambda h=h: c.get(base, headers=h), 200)
            await timed(
                results["create"],
                lambda fresh=fresh: c.post(
                    base,
                    json={"endpointId": endpoint_id, "cron": "*/15 * * * *"},
                    headers=fresh,
                ),
                201,
            )
            await timed(
                results["patch"],
                lambda h=h, sid=sid, n=n: c.patch(
                    f"{base}/{sid}", json={"name": f"n{n}"}, headers=h
                ),
                200,
            )
            await timed(
                results["preview"],
                lambda h=h: c.post(
                    f"{base}/preview",
                    json={"cron": "0 9 * * MON-FRI", "timezone": "Europe/Paris"},
                    headers=h,
                ),
                200,
            )
            await timed(
                results["run-now"],
                lambda h=h, sid=sid: c.post(f"{base}/{sid}/run-now", headers=h),
                202,
            )
    return results


async def main(database: str) -> None:
    pg = None
    with tempfile.TemporaryDirectory() as tmp:
        if database == "postgres":
            pg = PostgresServer.start()
            url = pg.url(pg.create_database())
        else:
            url = f"sqlite:///{tmp}/api.db"
        try:
            results = await run(url)
        finally:
            if pg is not None:
                pg.stop()
    targets = {"list": 20, "create": 25, "patch": 25, "preview": 10, "run-now": None}
    lines = [
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — API latency, {database}, commit {commit()}",
        "",
        f"Machine: {machine()}. Command: `.venv/bin/python bench/api.py --database {database}`. "
        f"{TENANTS * PER_TENANT} schedules across {TENANTS} tenants; {SAMPLES} requests each.",
        "",
        "| operation | p50 ms | p95 ms | target p95 ms |",
        "|---|---|---|---|",
    ]
    for name, samples in results.items():
        ms = [s * 1000 for s in samples]
        target = targets[name]
        lines.append(
            f"| {name} | {statistics.median(ms):.1f} | {pct(ms, 0.95):.1f} | {target if target else '—'} |"
        )
    text = "\n".join(lines) + "\n"
    append_results(text)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    asyncio.run(main(ap.parse_args().database))
