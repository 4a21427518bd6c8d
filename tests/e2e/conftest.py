"""The service as its own process: ``extsched serve --demo`` on a free port, SQLite in a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.postgres import free_port

EXTSCHED = str(Path(sys.executable).with_name("extsched"))
RUNNER_TOKEN = "e2e-runner-token-0123456789-abcdef"


@contextmanager
def launched(args: list[str], env: dict[str, str], log: Path, timeout: float = 30) -> Iterator[str]:
    """``extsched *args --port P`` as its own process, answering /healthz; its base URL. The
    process's output goes to ``log``; it is stopped (SIGTERM) on exit."""
    with running(args, env, log, timeout) as (base, _):
        yield base


@contextmanager
def running(
    args: list[str], env: dict[str, str], log: Path, timeout: float = 30
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``launched``, with the process itself (to measure it, or to kill it)."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [EXTSCHED, *args, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"extsched {args[0]} did not come up:\n{log.read_text()}")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def demo_run_now(base: str, env: dict[str, str], timeout: float = 20) -> dict[str, Any]:
    """The demo schedule's first run (a run-now), once it has ended."""
    token = subprocess.run(
        [EXTSCHED, "token", "--tenant", "demo"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    schedules = httpx.get(f"{base}/api/extensions/extsched.sample/schedules", headers=headers)
    [demo] = schedules.json()["schedules"]
    assert demo["cron"] == "*/5 * * * *"
    runs_url = f"{base}/api/extensions/extsched.sample/schedules/{demo['id']}/runs"
    deadline = time.monotonic() + timeout
    while True:
        # Only the run-now: near a 5-minute boundary the schedule's own occurrence may be listed.
        runs = [
            r
            for r in httpx.get(runs_url, headers=headers).json()["runs"]
            if r["trigger"] == "run_now"
        ]
        if runs and runs[0]["status"] not in ("queued", "running"):
            return dict(runs[0])
        assert time.monotonic() < deadline, runs
        time.sleep(0.2)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {
        **os.environ,
        "EXTSCHED_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "EXTSCHED_JWT_SECRET": "e2e-secret-0123456789-0123456789-xyz",
        "RUNNER_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "RUNNER_SERVICE_TOKEN": RUNNER_TOKEN,
    }
    with launched(["serve", "--demo"], env, tmp_path / "serve.log") as base:
        yield base, env
