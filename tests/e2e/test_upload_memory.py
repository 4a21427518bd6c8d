"""Memory of the service process under twenty parallel oversized uploads (issue 15): each body
is refused once it passes the limit, declared or not, so the process never holds them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from extsched.auth import EXTENSION_READ, EXTENSION_WRITE, mint_token
from tests.e2e.conftest import running
from tests.support.postgres import free_port

SECRET = "upload-secret-0123456789-0123456789-xyz"
MIB = 1024 * 1024


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, int]]:
    env = {
        **os.environ,
        "EXTSCHED_DATABASE_URL": f"sqlite:///{tmp_path}/upload.db",
        "EXTSCHED_JWT_SECRET": SECRET,
        "RUNNER_BASE_URL": f"http://127.0.0.1:{free_port()}",
    }
    with running(["serve"], env, tmp_path / "serve.log") as (base, proc):
        yield base, proc.pid


async def test_twenty_parallel_16_mib_uploads_leave_the_process_small(
    service: tuple[str, int], observed: list[str]
) -> None:
    base, pid = service
    token = mint_token(SECRET, sub="u", tenant="t", permissions=[EXTENSION_READ, EXTENSION_WRITE])
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    chunk = b" " * (256 * 1024)
    body = chunk * 64  # 16 MiB, shared by the uploads that declare their length

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield chunk

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        # Warm the process (imports, first request paths) before taking its measure.
        assert (await client.get("/api/tenant/settings", headers=headers)).status_code == 200
        before = peak_rss(pid)

        async def upload(i: int) -> int:
            try:
                r = await client.post(
                    "/api/extensions/x/schedules",
                    content=endless() if i % 2 else body,
                    headers=headers,
                )
            except httpx.TransportError:
                return 0  # the service may close the connection on a refused upload
            return r.status_code

        statuses = await asyncio.gather(*(upload(i) for i in range(20)))
    grown = peak_rss(pid) - before
    observed.append(
        f"320 MiB sent by 20 uploads; the service's peak RSS grew {grown / MIB:.1f} MiB; "
        f"answers {sorted(set(statuses))}"
    )
    assert grown < 48 * MIB, f"the service grew {grown / MIB:.0f} MiB for 320 MiB sent"
    assert set(statuses) <= {413, 0} and statuses.count(413) >= 10, statuses
