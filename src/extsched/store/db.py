"""The database handle: one async engine, transactions handed to services.

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` so concurrent writers queue instead of
failing half-way through a read-then-write; PostgreSQL gets a plain pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from extsched.config import async_url
from extsched.store.sqlite_driver import connector

_WRITE = "extsched_write"
_IDLE_SINCE = "extsched_idle_since"


# A pooled PostgreSQL connection idle longer than this is pinged when checked out, so a server
# restart or a dropped idle connection is noticed there instead of failing a use case. One used
# more recently is trusted: pinging every check-out cost a round trip per transaction. Should its
# server have gone away meanwhile, the statement fails as a disconnect, SQLAlchemy then retires
# every connection of the pool, and the next attempt connects afresh.
PING_AFTER_IDLE_SECONDS = 5.0


class Database:
    def __init__(
        self, url: str, *, echo: bool = False, ping_after_idle: float = PING_AFTER_IDLE_SECONDS
    ) -> None:
        self.url = async_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.url.startswith("sqlite"):
            kwargs["async_creator"] = connector(make_url(self.url).database or "", timeout=30)
        else:
            kwargs.update(pool_size=10, max_overflow=20)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if not self.is_sqlite:
            _ping_idle_connections(self.engine, ping_after_idle)
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


def _ping_idle_connections(engine: AsyncEngine, after: float) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < after:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (or connects afresh).
            raise DisconnectionError(f"pooled connection did not answer a ping: {exc}") from exc


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
