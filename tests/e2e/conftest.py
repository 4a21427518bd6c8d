"""The service as its own process: ``extsched serve --demo`` on a free port, SQLite in a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import free_port

EXTSCHED = str(Path(sys.executable).with_name("extsched"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "EXTSCHED_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "EXTSCHED_JWT_SECRET": "e2e-secret-0123456789-0123456789-xyz",
        "RUNNER_BASE_URL": f"http://127.0.0.1:{free_port()}",
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [EXTSCHED, "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"extsched serve did not come up:\n{log.read_text()}")
            time.sleep(0.1)
        yield base, env
    finally:
        proc.terminate()
        proc.wait(timeout=15)
