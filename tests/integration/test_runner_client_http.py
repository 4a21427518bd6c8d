"""The Runner client's HTTP/1.1 over real sockets: body framings, connection reuse, bad answers.

A raw TCP server answers with scripted bytes, so each framing and each failure is exactly what a
Runner (or a proxy in front of one) could send.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from extsched.domain.install_config import InstallConfig
from extsched.domain.invocation import Invocation
from extsched.runner_client import RunnerClient
from tests.integration.test_runner_contract import invocation

ANSWER = json.dumps(
    {"status": 200, "headers": {}, "body_b64": base64.b64encode(b'{"ok":true}').decode()}
).encode()

# What the server does with one request: bytes to send back (None: close without answering),
# and whether to close the connection after answering.
Reply = Callable[[int], tuple[bytes | None, bool]]


def framed(body: bytes = ANSWER, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "content-type: application/json", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 7) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return framed(b"".join(parts) + b"0\r\n\r\n", "transfer-encoding: chunked")


@dataclass
class RawServer:
    url: str
    reply: Reply
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def raw_server(reply: Reply, trickle: int = 0) -> AsyncIterator[RawServer]:
    """``trickle``: send each answer in pieces of this many bytes, one event-loop turn apart."""
    server_state = RawServer("", reply)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_state.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                body = await reader.readexactly(length)
                server_state.requests.append(head + body)
                answer, close = server_state.reply(len(server_state.requests))
                if answer is None:
                    return
                step = trickle or len(answer)
                for i in range(0, len(answer), step):
                    writer.write(answer[i : i + step])
                    await writer.drain()
                    if trickle:
                        await asyncio.sleep(0.001)
                if close:
                    return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server_state.url = f"http://127.0.0.1:{port}"
    try:
        yield server_state
    finally:
        server.close()
        await server.wait_closed()


async def call(server: RawServer, inv: Invocation | None = None, **kw: int) -> list[object]:
    client = RunnerClient(server.url, max_response_bytes=kw.get("cap", 4096))
    try:
        results = []
        for _ in range(kw.get("times", 1)):
            r = await client.execute(inv or invocation(payload={"a": 1}))
            results.append((r.ok, r.retryable, r.status, r.error))
        return results
    finally:
        await client.close()


OK = (True, False, "success", None)


async def test_a_chunked_answer_is_read_whole() -> None:
    async with raw_server(lambda n: (chunked(ANSWER), False)) as server:
        assert await call(server) == [OK]


@pytest.mark.parametrize("framing", [framed, chunked], ids=["content-length", "chunked"])
async def test_an_answer_arriving_in_small_pieces_is_put_together(
    framing: Callable[[bytes], bytes],
) -> None:
    async with raw_server(lambda n: (framing(ANSWER), False), trickle=5) as server:
        assert await call(server, times=2) == [OK, OK]
        assert server.connections == 1


async def test_an_answer_read_until_the_connection_closes() -> None:
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + ANSWER
    async with raw_server(lambda n: (answer, True)) as server:
        assert await call(server, times=2) == [OK, OK]
        assert server.connections == 2  # a body framed by the close cannot share its connection


@pytest.mark.parametrize(
    "answer",
    [framed(b"x" * 5000), chunked(b"x" * 5000, size=1000)],
    ids=["content-length", "chunked"],
)
async def test_an_answer_over_the_cap_is_a_permanent_failure(answer: bytes) -> None:
    async with raw_server(lambda n: (answer, False)) as server:
        assert await call(server) == [
            (False, False, "error", "runner response larger than 4096 bytes")
        ]


async def test_keep_alive_reuses_one_connection_and_close_does_not() -> None:
    async with raw_server(lambda n: (framed(), False)) as server:
        assert await call(server, times=3) == [OK, OK, OK]
        assert server.connections == 1
    async with raw_server(lambda n: (framed(ANSWER, "connection: close"), True)) as server:
        assert await call(server, times=3) == [OK, OK, OK]
        assert server.connections == 3


async def test_an_idle_connection_the_runner_dropped_is_replaced_and_the_call_sent_again() -> None:
    # The first connection answers once, then drops the next request unanswered, as a server
    # whose keep-alive timer fired while the request was on its way.
    async with raw_server(lambda n: (framed(), False) if n != 2 else (None, True)) as server:
        assert await call(server, times=2) == [OK, OK]
        assert server.connections == 2
        assert len(server.requests) == 3


async def test_a_fresh_connection_closed_unanswered_is_a_retryable_error() -> None:
    async with raw_server(lambda n: (None, True)) as server:
        [(ok, retryable, status, error)] = await call(server)
    assert (ok, retryable, status) == (False, True, "error")
    assert isinstance(error, str) and error.startswith("connection error: ")
    assert len(server.requests) == 1  # not sent twice: nothing says the Runner did not act on it


@pytest.mark.parametrize(
    "answer",
    [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n"],
    ids=["not-http", "bad-length"],
)
async def test_a_garbled_answer_is_a_retryable_connection_error(answer: bytes) -> None:
    async with raw_server(lambda n: (answer, True)) as server:
        [(ok, retryable, _, error)] = await call(server)
    assert (ok, retryable) == (False, True)
    assert isinstance(error, str) and error.startswith("connection error: ProtocolError")


async def test_a_header_value_with_a_line_break_is_never_sent() -> None:
    inv = invocation()
    config = InstallConfig(**{**inv.install.__dict__, "tenant_id": "t\r\nx-evil: 1"})
    bad = Invocation(**{**inv.__dict__, "install": config})
    async with raw_server(lambda n: (framed(), False)) as server:
        [(ok, retryable, _, error)] = await call(server, bad)
        assert server.requests == []
    assert (ok, retryable) == (False, False)
    assert error == "request not sendable: header x-alga-tenant has a line break"


def test_only_http_and_https_runner_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        RunnerClient("ftp://runner.internal")
    assert (
        RunnerClient("https://runner.internal/base/").url
        == "https://runner.internal/base/v1/execute"
    )


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n",
    ],
    ids=["100", "103"],
)
async def test_an_interim_answer_is_skipped_and_the_final_one_read(interim: bytes) -> None:
    async with raw_server(lambda n: (interim + framed(), False), trickle=3) as server:
        assert await call(server, times=2) == [OK, OK]
        assert server.connections == 1


@pytest.mark.parametrize("framing", [framed, chunked], ids=["content-length", "chunked"])
async def test_a_large_answer_in_tiny_pieces_is_read_whole(
    framing: Callable[[bytes], bytes],
) -> None:
    payload = base64.b64encode(b"y" * 150_000).decode()
    big = json.dumps({"status": 200, "headers": {}, "body_b64": payload}).encode()
    async with raw_server(lambda n: (framing(big), False), trickle=512) as server:
        assert await call(server, cap=1 << 20) == [OK]
