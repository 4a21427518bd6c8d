"""Reading one HTTP/1.x response as its bytes arrive, in time linear in its size.

The Runner, or a proxy in front of it, may send an answer in pieces of any size, down to one byte
each. The reader keeps its place between pieces: every delimiter search resumes where the last
one stopped and each body byte is copied once, so a hostile or broken peer costs no more CPU per
byte than a well-behaved one. Interim ``1xx`` answers (``100 Continue``) are skipped.
"""

from __future__ import annotations

HEAD_LIMIT = 65_536
CHUNK_LINE_LIMIT = 4_096

Answer = tuple[int, bytes, bool]  # status, body, whether the connection may be reused


class TooLarge(Exception):
    """The body is larger than the cap."""


class ProtocolError(Exception):
    """The bytes are not an HTTP/1.x response."""


_HEAD, _LENGTH, _TO_EOF, _CHUNK_SIZE, _CHUNK_DATA, _TRAILERS = range(6)


class ResponseReader:
    """Feed it the bytes of one response; it returns the answer once it is complete."""

    __slots__ = (
        "body",
        "buf",
        "chunk_left",
        "keep",
        "length",
        "max_body",
        "received",
        "scan",
        "state",
        "status",
    )

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.buf = bytearray()  # bytes not consumed yet
        self.scan = 0  # where the search for the next delimiter in ``buf`` resumes
        self.state = _HEAD
        self.status = 0
        self.keep = False
        self.length = 0
        self.chunk_left = 0
        self.body = bytearray()  # a chunked body, put together
        self.received = 0

    def feed(self, data: bytes) -> Answer | None:
        """The answer when ``data`` completes it, else None. Raises TooLarge or ProtocolError."""
        self.received += len(data)
        self.buf += data
        while True:
            state = self.state
            if state == _HEAD:
                if not self._head():
                    return None
                if self.state == _HEAD:
                    continue  # an interim answer was skipped
                if self.status in (204, 304) and self.state == _TO_EOF:
                    return self.status, b"", self.keep
            elif state == _LENGTH:
                if len(self.buf) < self.length:
                    return None
                return self.status, bytes(self.buf[: self.length]), self.keep
            elif state == _TO_EOF:
                if len(self.buf) > self.max_body:
                    raise TooLarge()
                return None
            elif state == _CHUNK_SIZE:
                line = self._line()
                if line is None:
                    return None
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as exc:
                    raise ProtocolError("bad chunk size") from exc
                if size < 0:
                    raise ProtocolError("bad chunk size")
                if size == 0:
                    self.state = _TRAILERS
                elif len(self.body) + size > self.max_body:
                    raise TooLarge()
                else:
                    self.chunk_left, self.state = size, _CHUNK_DATA
            elif state == _CHUNK_DATA:
                end = self.chunk_left + 2
                if len(self.buf) < end:
                    return None
                if self.buf[self.chunk_left : end] != b"\r\n":
                    raise ProtocolError("bad chunk end")
                self.body += self.buf[: self.chunk_left]
                del self.buf[:end]
                self.state = _CHUNK_SIZE
            else:  # _TRAILERS, up to the empty line
                line = self._line()
                if line is None:
                    return None
                if not line:
                    return self.status, bytes(self.body), self.keep

    def finish(self) -> Answer | None:
        """At the end of the stream: the answer if the stream's end completes it, else None."""
        if self.state == _TO_EOF:
            return self.status, bytes(self.buf), False
        return None

    def _head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n", self.scan)
        if end < 0:
            if len(self.buf) > HEAD_LIMIT:
                raise ProtocolError("response headers too large")
            self.scan = max(0, len(self.buf) - 3)
            return False
        status, length, chunked, keep = parse_head(bytes(self.buf[:end]))
        del self.buf[: end + 4]
        self.scan = 0
        if 100 <= status < 200 and status != 101:
            return True  # interim: the real answer follows on the same connection
        self.status, self.keep = status, keep
        if chunked:
            self.state = _CHUNK_SIZE
        elif length is not None:
            if length > self.max_body:
                raise TooLarge()
            self.length, self.state = length, _LENGTH
        else:
            self.state = _TO_EOF  # 204 and 304 have no body; the caller answers at once
            if status not in (204, 304):
                self.keep = False
        return True

    def _line(self) -> bytes | None:
        """The next CRLF-terminated line without its CRLF, consumed; None until it is whole."""
        end = self.buf.find(b"\r\n", self.scan)
        if end < 0:
            if len(self.buf) > CHUNK_LINE_LIMIT:
                raise ProtocolError("chunk line too long")
            self.scan = max(0, len(self.buf) - 1)
            return None
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        self.scan = 0
        return line


def parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    """Status, Content-Length, chunked, keep-alive, from a response's status line and headers."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
    try:
        status = int(parts[1])
    except ValueError as exc:
        raise ProtocolError("bad status line") from exc
    keep = parts[0] == b"HTTP/1.1"
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                n = int(value.strip())
            except ValueError as exc:
                raise ProtocolError("bad content-length") from exc
            if n < 0 or (length is not None and length != n):
                raise ProtocolError("bad content-length")
            length = n
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            token = value.strip().lower()
            if token == b"close":
                keep = False
            elif token == b"keep-alive":
                keep = True
    return status, length, chunked, keep
