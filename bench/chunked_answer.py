"""The Runner client's CPU for one 250 KB answer: in one piece, and one byte per read.

    .venv/bin/python bench/chunked_answer.py [--size 250000] [--before 6be1e9b]

A hostile or broken Runner can send its answer a byte at a time; the client must spend time linear
in the answer's size however it is cut. The bytes are handed to the client's connection protocol
exactly as the event loop would hand over 1-byte TCP reads. ``--before`` also measures the client
of an earlier commit (read from git), whose parser re-read its whole buffer on every piece.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.burst import commit, machine  # noqa: E402
from bench.common import append_results  # noqa: E402
from extsched import runner_client  # noqa: E402


def answer(size: int, chunked: bool) -> bytes:
    body_b64 = base64.b64encode(b"x" * (size * 3 // 4)).decode()
    body = json.dumps({"status": 200, "headers": {}, "body_b64": body_b64}).encode()
    if not chunked:
        return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    parts = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 4096]), body[i : i + 4096])
        for i in range(0, len(body), 4096)
    )
    return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + parts + b"0\r\n\r\n"


def cpu_seconds(module: ModuleType, data: bytes, piece: int) -> float:
    async def feed() -> float:
        conn = module._Connection(1 << 20)
        conn.waiter = asyncio.get_running_loop().create_future()
        started = time.process_time()
        for i in range(0, len(data), piece):
            conn.data_received(data[i : i + piece])
        elapsed = time.process_time() - started
        status, body, _ = conn.waiter.result()
        assert status == 200 and len(body) > 0
        return elapsed

    return asyncio.run(feed())


def module_at(rev: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:src/extsched/runner_client.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "runner_client_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("runner_client_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=250_000)
    parser.add_argument("--before", default=None, help="also measure this commit's client")
    args = parser.parse_args()
    clients = [("now", runner_client)]
    if args.before:
        clients.append((args.before, module_at(args.before)))
    rows = []
    for label, module in clients:
        for chunked in (False, True):
            data = answer(args.size, chunked)
            whole = min(cpu_seconds(module, data, len(data)) for _ in range(3))
            by_byte = cpu_seconds(module, data, 1)
            rows.append(
                f"| {label} | {'chunked' if chunked else 'content-length'} | {len(data):,} | "
                f"{whole * 1000:.2f} ms | {by_byte:.3f} s | {by_byte / max(whole, 1e-9):,.0f} x |"
            )
            print(rows[-1], flush=True)
    append_results(
        f"\n## Runner client: one answer in 1-byte pieces ({machine()}, commit {commit()})\n\n"
        "| client | framing | answer bytes | CPU, one piece | CPU, 1-byte pieces | ratio |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


if __name__ == "__main__":
    main()
