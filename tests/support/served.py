"""The API served over real HTTP by uvicorn, inside the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

from tests.support.postgres import free_port


@dataclass(frozen=True)
class Served:
    app: FastAPI
    host: str
    port: int
    client: httpx.AsyncClient

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def raw(self, request: bytes, *, read_limit: int = 1 << 20) -> bytes:
        """Send ``request`` as it is on a new connection; what came back until the server closed
        the connection or had answered once."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            return head + await reader.readexactly(length)
        finally:
            writer.close()


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[Served]:
    """Run ``app`` (its lifespan included) on a free loopback port until the block ends."""
    host, port = "127.0.0.1", free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, lifespan="on", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            yield Served(app, host, port, client)
    finally:
        server.should_exit = True
        await task
