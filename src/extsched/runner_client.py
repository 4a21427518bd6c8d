"""The ``POST /v1/execute`` client, shared by scheduled runs and (later) the HTTP gateway.

HTTP/1.1 over pooled keep-alive connections (asyncio protocols), written for this one request
shape: a burst of ten thousand calls spends most of its time in the HTTP client, and aiohttp's
per-request machinery measured between two and three times the CPU of this one (httpx far more;
bench/RESULTS.md).
What it reads: ``Content-Length``, chunked and read-to-close bodies, ``Connection: close``; every
body is capped at ``max_response_bytes`` while it is read. A pooled connection the Runner closed
while it sat idle is replaced and the request sent again once; that is safe because no byte of an
answer came back, and the Runner deduplicates by ``x-idempotency-key`` anyway.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import cast
from urllib.parse import urlsplit

import orjson

from extsched.domain.install_config import InstallConfig
from extsched.domain.invocation import (
    AttemptResult,
    Invocation,
    RunnerCall,
    read_response,
    runner_request,
)
from extsched.http_response import Answer, ProtocolError, ResponseReader, TooLarge

KEEPALIVE_SECONDS = 15.0  # an idle connection older than this is closed rather than reused


class _Stale(Exception):
    """A reused connection ended before any byte of the answer: the Runner closed it idle."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; reads the answer to the request in flight as bytes arrive."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.reader = ResponseReader(max_body)
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False
        self.reused = False
        self.used_at = time.monotonic()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the same methods without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: the connection's state is unknown now
            return
        try:
            answer = self.reader.feed(data)
        except Exception as exc:
            waiter.set_exception(exc)
        else:
            if answer is not None:
                waiter.set_result(answer)

    def eof_received(self) -> bool:
        self._ended(None)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    def _ended(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if not self.reader.received:
            if self.reused:
                waiter.set_exception(_Stale())
            else:
                waiter.set_exception(EOFError("the runner closed the connection unanswered"))
            return
        answer = self.reader.finish()
        if answer is None:
            detail = f": {exc}" if exc else ""
            waiter.set_exception(EOFError(f"the runner closed the connection mid-answer{detail}"))
        else:
            waiter.set_result(answer)

    # The client's side
    async def roundtrip(self, request: bytes) -> Answer:
        assert self.transport is not None
        self.reader = ResponseReader(self.max_body)
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RunnerClient:
    def __init__(
        self,
        base_url: str,
        *,
        service_token: str | None = None,
        max_response_bytes: int = 262_144,
        max_connections: int = 512,
    ) -> None:
        parts = urlsplit(base_url.rstrip("/") + "/v1/execute")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"runner URL must be http:// or https:// with a host: {base_url!r}")
        self.url = parts.geturl()
        self.service_token = service_token
        self.max_response_bytes = max_response_bytes
        self.max_connections = max_connections
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        default_port = self._port == (443 if self._ssl else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        authority = host if default_port else f"{host}:{self._port}"
        self._request_line = f"POST {parts.path} HTTP/1.1\r\nhost: {authority}\r\n".encode()
        self._idle: list[_Connection] = []
        self._gate: asyncio.Semaphore | None = None
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    async def execute(self, inv: Invocation) -> AttemptResult:
        try:
            request = self.encode(inv)
        except ValueError as exc:
            return AttemptResult.failure(f"request not sendable: {exc}", retryable=False)
        return await self.send(request, inv.timeout_ms)

    def encode(self, inv: Invocation) -> bytes:
        """The whole HTTP request for ``inv``; ValueError when a header value cannot be sent."""
        return self.encode_call(inv.install, inv.call())

    def encode_call(self, install: InstallConfig, call: RunnerCall) -> bytes:
        headers, body = runner_request(install, call, self.service_token)
        try:
            return self._encode(headers, orjson.dumps(body))
        except UnicodeEncodeError as exc:
            raise ValueError(f"a header is not latin-1: {exc.object[:40]!r}") from exc

    async def send(self, request: bytes, timeout_ms: int) -> AttemptResult:
        """Send an ``encode``d request and read the Runner's answer."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.max_connections)
        try:
            async with asyncio.timeout(timeout_ms / 1000), self._gate:
                status, raw = await self._exchange(request)
        except TimeoutError:
            return AttemptResult.failure(
                f"runner did not answer within {timeout_ms} ms",
                retryable=True,
                status="timeout",
            )
        except TooLarge:
            return AttemptResult.failure(
                f"runner response larger than {self.max_response_bytes} bytes", retryable=False
            )
        except (OSError, EOFError, _Stale, ProtocolError) as exc:
            detail = str(exc) or "the runner closed the connection"
            return AttemptResult.failure(
                f"connection error: {type(exc).__name__}: {detail}", retryable=True
            )
        return read_response(status, raw)

    def _encode(self, headers: dict[str, str], body: bytes) -> bytes:
        lines = [self._request_line, b"content-length: %d\r\n" % len(body)]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} has a line break")
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(b"\r\n")
        lines.append(body)
        return b"".join(lines)

    # Connections -------------------------------------------------------------------------------

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        conn = self._take_idle()
        if conn is not None:
            try:
                return await self._roundtrip(conn, request)
            except _Stale:
                pass
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: _Connection(self.max_response_bytes), self._host, self._port, ssl=self._ssl
        )
        return await self._roundtrip(conn, request)

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.used_at < KEEPALIVE_SECONDS and not conn.closed:
                conn.reused = True
                return conn
            conn.close()
        return None

    async def _roundtrip(self, conn: _Connection, request: bytes) -> tuple[int, bytes]:
        keep = False
        try:
            status, raw, keep = await conn.roundtrip(request)
            return status, raw
        finally:
            if keep and not self._closed and not conn.closed:
                conn.used_at = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()
