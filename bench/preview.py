"""Preview latency: validation + description + next N occurrences, per expression.

Run: .venv/bin/python bench/preview.py   (or `make bench`)
Prints p50 / p95 / max in milliseconds for the pure preview and for the HTTP route in-process.
The target (issue 3): under 50 ms for any accepted expression.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ADMIN, SECRET, bearer, in_process, pct, publish_sample
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.domain.preview import preview

EXPRESSIONS = [
    "*/5 * * * *",
    "0 9 * * MON-FRI",
    "30 2 * * *",
    "0 0 29 2 *",
    "0,30 * * * SUN",
    "58,3 23,0 * * MON,WED",
    "0 0 1 JAN *",
    "15 */2 1-7 * *",
    "5-55/10 0-23/3 * JUL-SEP *",
    "0 12 31 * *",
]
ZONES = ["UTC", "America/New_York", "Australia/Lord_Howe"]
REPEAT = 200


def row(label: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"{label:<34} p50 {statistics.median(ms):7.3f}  p95 {pct(ms, 0.95):7.3f}  max {max(ms):7.3f}"


def pure() -> float:
    now = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    worst = 0.0
    print("pure preview (count=50), ms")
    for expr in EXPRESSIONS:
        samples = []
        for i in range(REPEAT):
            t = time.perf_counter()
            result = preview(expr, ZONES[i % len(ZONES)], now, 50)
            samples.append(time.perf_counter() - t)
            assert result.valid, (expr, result.field_errors)
        worst = max(worst, pct(samples, 0.95))
        print(row(expr, samples))
    return worst


async def http() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", jwt_secret=SECRET)
        clock = ManualClock(datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
        async with in_process(settings, clock=clock) as c:
            ext, _ = await publish_sample(c)
            admin = bearer("t", ADMIN)
            await c.post(
                "/api/v1/extensions/install",
                json={"registryId": ext["id"], "version": "1"},
                headers=admin,
            )
            print("\nHTTP POST .../schedules/preview (count=5, in-process ASGI), ms")
            samples = []
            for i in range(REPEAT * 2):
                expr = EXPRESSIONS[i % len(EXPRESSIONS)]
                t = time.perf_counter()
                r = await c.post(
                    "/api/extensions/b.x/schedules/preview",
                    json={"cron": expr, "timezone": ZONES[i % len(ZONES)]},
                    headers=admin,
                )
                samples.append(time.perf_counter() - t)
                assert r.status_code == 200 and r.json()["valid"], r.text
            print(row("all expressions", samples))
            return pct(samples, 0.95)


def main() -> None:
    worst_pure = pure()
    worst_http = asyncio.run(http())
    verdict = "OK" if max(worst_pure, worst_http) < 0.050 else "OVER TARGET"
    print(
        f"\nworst p95: pure {worst_pure * 1000:.3f} ms, http {worst_http * 1000:.3f} ms -> {verdict} (< 50 ms)"
    )


if __name__ == "__main__":
    main()
