"""SQLite connections for the async engine that make one trip to their thread per statement.

aiosqlite runs each call of the sqlite3 module on the connection's own thread, and the async
engine makes four such calls per statement (make a cursor, execute, fetch, close), each a hand-off
between threads that costs far more than SQLite's own work on a small statement. Here a statement
is one trip: the cursor is made, the statement run and its rows fetched in one call on the thread;
closing the cursor is left to the garbage collector. Everything else is aiosqlite's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")


class OneTripCursor(aiosqlite.Cursor):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.iter_chunk_size = conn._iter_chunk_size
        self._conn = conn
        self._raw: sqlite3.Cursor | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneTripCursor:
        args = () if parameters is None else parameters

        def run(connection: sqlite3.Connection) -> tuple[sqlite3.Cursor, list[Any]]:
            cursor = connection.cursor()
            cursor.execute(sql, args)  # type: ignore[arg-type]
            return cursor, cursor.fetchall() if cursor.description else []

        self._raw, self._rows = await self._on_thread(lambda: run(self._conn._conn))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneTripCursor:
        def run(connection: sqlite3.Connection) -> sqlite3.Cursor:
            return connection.executemany(sql, parameters)  # type: ignore[arg-type]

        self._raw, self._rows = await self._on_thread(lambda: run(self._conn._conn)), []
        return self

    async def _on_thread(self, call: Callable[[], T]) -> T:
        result: T = await self._conn._execute(call)  # type: ignore[no-untyped-call]
        return result

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = size or 1
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._raw, self._rows = None, []

    @property
    def description(self) -> Any:
        return self._raw.description if self._raw is not None else None

    @property
    def rowcount(self) -> int:
        return self._raw.rowcount if self._raw is not None else -1

    @property
    def lastrowid(self) -> int | None:
        return self._raw.lastrowid if self._raw is not None else None


class OneTripConnection(aiosqlite.Connection):
    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)


def connector(path: str, timeout: float) -> Any:
    """An ``async_creator`` for ``create_async_engine``: a new connection to ``path``."""

    async def connect() -> OneTripConnection:
        conn = OneTripConnection(lambda: sqlite3.connect(path, timeout=timeout), 64)
        conn._thread.daemon = True  # as the engine's own aiosqlite connections are
        await conn
        return conn

    return connect
