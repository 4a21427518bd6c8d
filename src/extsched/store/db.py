"""The database handle: one async engine, transactions handed to services.

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` so concurrent writers queue instead of
failing half-way through a read-then-write; PostgreSQL gets a plain pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from extsched.config import async_url
from extsched.store.sqlite_driver import connector

_WRITE = "extsched_write"


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.url.startswith("sqlite"):
            kwargs["async_creator"] = connector(make_url(self.url).database or "", timeout=30)
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._writer: asyncio.Lock | None = None
        self._write_conn: AsyncConnection | None = None
        if self.is_sqlite:
            _configure_sqlite(self.engine)
            self._writer = asyncio.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        SQLite has one writer at a time. Writers of this process queue on a lock instead of in
        SQLite's busy handler, which polls with sleeps of up to 100 ms, and share one connection
        kept open for writing: no pool check-out and reset per transaction (every call to the
        driver is a trip to its thread). Other processes still meet the busy timeout."""
        if self._writer is None:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        async with self._writer:
            held = self._write_conn
            if held is None or held.closed or held.invalidated:
                if held is not None:
                    await held.close()
                fresh = await self.engine.connect()
                held = self._write_conn = await fresh.execution_options(**{_WRITE: True})
            async with held.begin():
                yield held

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; its transaction ends when the pool takes it back."""
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        """Raises unless the database answers."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._write_conn is not None:
            await self._write_conn.close()
            self._write_conn = None
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN IMMEDIATE below is the only BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front so two of them never deadlock upgrading a read
        # lock; readers begin deferred and, in WAL mode, never wait for a writer.
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
