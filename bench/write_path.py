"""Creating schedules through the service layer: seconds for N, and statements per create.

    .venv/bin/python bench/write_path.py [--n 10000] [--before 6be1e9b] [--repeat 3]
        [--database postgres]

The burst benchmark's set-up, measured alone: N schedules across tenants of 50 (one install
each), eight admins at a time, on SQLite and on PostgreSQL (Debian's server in a temp dir).
``--before REV`` measures that commit's code in the same run (a git worktree, imported ahead of
this checkout), so the two figures come from the same machine on the same day; ``--repeat R``
measures each R times, alternating the two, and reports the ratio of each pair and their median
(this machine's speed drifts by tens of percent within minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PER_INSTALL = 50


async def measure(url: str, n: int) -> dict[str, Any]:
    """Runs inside whichever source tree is first on the path."""
    from sqlalchemy import event

    from extsched.clock import SystemClock
    from extsched.config import Settings
    from extsched.services.caller import Caller
    from extsched.services.container import Services
    from extsched.store.db import Database
    from extsched.store.migrate import upgrade

    try:
        from extsched.services.inputs import Given

        def body(value: dict[str, Any]) -> Any:
            return Given(value)
    except ImportError:  # before bodies were read by the edge

        def body(value: dict[str, Any]) -> Any:
            return value

    db = Database(url)
    await upgrade(db)
    svc = Services.build(Settings(database_url=url), db, SystemClock())
    ext = await svc.registry.create_extension("bench", "writes")
    manifest = {"api": {"endpoints": [{"method": "POST", "path": "/hit", "handler": "h"}]}}
    digest = hashlib.sha256(b"writes").hexdigest()
    _, [endpoint] = await svc.registry.publish_version(
        ext.id, version="1", content_hash=f"sha256:{digest}", manifest=manifest
    )
    installs = []
    for t in range((n + PER_INSTALL - 1) // PER_INSTALL):
        caller = Caller(f"tenant-{t:05d}", "bench")
        view = await svc.installs.install(caller, registry_id=ext.id, version="1")
        installs.append((caller, view.install.id))
    gate = asyncio.Semaphore(8)

    async def create(i: int) -> None:
        caller, install_id = installs[i // PER_INSTALL]
        value = {"endpointId": endpoint.id, "cron": "0 3 * * *", "payloadJson": {"i": i}}
        async with gate:
            await svc.schedules.create(caller, install_id, body(value))

    # Statements of one create, bookkeeping (BEGIN, COMMIT, PRAGMA) aside.
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "PRAGMA", "ROLLBACK")):
            seen.append(statement)

    await create(0)
    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    await create(1)
    event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(create(i) for i in range(2, n)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await svc.close()
    await db.dispose()
    return {
        "seconds": seconds,
        "per_second": (n - 2) / seconds,
        "cpu_seconds": cpu,
        "statements": len(seen),
    }


def run_child(src: Path, url: str, n: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, "--n", str(n)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--before", default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--database", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(measure(args.child, args.n))))
        return

    sys.path.insert(0, str(ROOT))
    from tests.support.postgres import PostgresServer

    from bench.burst import commit, machine
    from bench.common import append_results

    trees = [("this checkout", ROOT / "src")]
    tmp = Path(tempfile.mkdtemp(prefix="extsched-writes-"))
    if args.before:
        worktree = tmp / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), args.before],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        trees.append((args.before, worktree / "src"))
    pg = PostgresServer.start()
    rows = []
    try:
        for database in args.database or ["sqlite", "postgres"]:
            for rep in range(args.repeat):
                for label, src in trees if rep % 2 == 0 else trees[::-1]:
                    name = f"{database}-{len(rows)}"
                    url = (
                        f"sqlite:///{tmp}/{name}.db"
                        if database == "sqlite"
                        else pg.url(pg.create_database())
                    )
                    r = run_child(src, url, args.n)
                    rows.append((database, label, r))
                    print(database, label, r, flush=True)
    finally:
        pg.stop()
        if args.before:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tmp / "before")],
                cwd=ROOT,
                capture_output=True,
            )
    lines = [
        f"| {db} | {label} | {r['seconds']:.1f} s | {r['per_second']:.0f} | {r['statements']} |"
        for db, label, r in rows
    ]
    ratios = []
    if args.before:
        for database in args.database or ["sqlite", "postgres"]:
            times = {
                label: [r["seconds"] for d, lb, r in rows if d == database and lb == label]
                for label, _ in trees
            }
            pairs = [b / a for a, b in zip(times["this checkout"], times[args.before], strict=True)]
            each = ", ".join(f"{x:.2f}" for x in pairs)
            ratios.append(
                f"- {database}: {args.before} ÷ this checkout, pair by pair: {each}; "
                f"median {statistics.median(pairs):.2f}"
            )
    append_results(
        f"\n## Write path: {args.n:,} schedules created through the service layer "
        f"({machine()}, commit {commit()})\n\n"
        "| database | code | time | creates/s | statements per create |\n"
        "|---|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n"
        + ("\n" + "\n".join(ratios) + "\n" if ratios else "")
    )


if __name__ == "__main__":
    main()
