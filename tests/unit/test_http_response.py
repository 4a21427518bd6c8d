"""Reading HTTP/1.x responses piece by piece: the same answer however it is cut, in linear time."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from extsched.http_response import Answer, ProtocolError, ResponseReader, TooLarge


def with_length(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = b"".join(
        b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    )
    return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + parts + b"0\r\nx: y\r\n\r\n"


def read(answer: bytes, piece: int, cap: int = 1 << 20) -> Answer | None:
    reader = ResponseReader(cap)
    result = None
    for i in range(0, len(answer), piece):
        result = reader.feed(answer[i : i + piece])
        if result is not None:
            assert i + piece >= len(answer), "answered before the last byte"
    return result


@pytest.mark.parametrize("framing", [with_length, chunked], ids=["content-length", "chunked"])
@pytest.mark.parametrize("piece", [1, 2, 7, 1000, 1 << 20])
def test_an_answer_reads_the_same_however_it_is_cut(
    framing: Callable[[bytes], bytes], piece: int
) -> None:
    body = bytes(range(256)) * 20
    assert read(framing(body), piece) == (200, body, True)


def test_interim_answers_are_skipped_byte_by_byte_too() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n" + with_length(b"ok")
    assert read(answer, 1) == (200, b"ok", True)


def test_a_body_ending_with_the_connection_is_read_at_the_end() -> None:
    reader = ResponseReader(100)
    assert reader.feed(b"HTTP/1.0 200 OK\r\n\r\nhello") is None
    assert reader.finish() == (200, b"hello", False)
    assert ResponseReader(100).finish() is None


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (with_length(b"x" * 101), TooLarge),
        (chunked(b"x" * 101, size=60), TooLarge),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", ProtocolError),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nabc", ProtocolError),
        (b"NOPE 200\r\n\r\n", ProtocolError),
    ],
)
def test_oversized_and_broken_answers_are_refused_as_they_arrive(
    answer: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        read(answer, 1, cap=100)


def test_endless_headers_or_chunk_lines_are_refused() -> None:
    with pytest.raises(ProtocolError, match="headers too large"):
        read(b"HTTP/1.1 200 OK\r\n" + b"x" * 70_000, 1000)
    with pytest.raises(ProtocolError, match="chunk line too long"):
        read(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + b"1" * 5000, 100)


def _cpu_byte_by_byte(answer: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        assert read(answer, 1) is not None
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("framing", [with_length, chunked], ids=["content-length", "chunked"])
def test_reading_byte_by_byte_costs_time_linear_in_the_size(
    framing: Callable[[bytes], bytes],
) -> None:
    """Ten times the bytes cost about ten times the CPU (a parser that re-reads its buffer on
    every piece would cost a hundred times). Measured against itself, so the machine's speed
    does not matter."""
    small = _cpu_byte_by_byte(framing(b"z" * 25_000))
    large = _cpu_byte_by_byte(framing(b"z" * 250_000))
    assert large < 30 * small, (small, large)
