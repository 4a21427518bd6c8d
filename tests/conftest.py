"""Shared fixtures: databases (SQLite and PostgreSQL), the app, clients and personas."""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from extsched.api.app import create_app
from extsched.auth import EXTENSION_READ, EXTENSION_WRITE, PLATFORM_ADMIN, mint_token
from extsched.backends.memory import MemoryJobRunner
from extsched.backends.temporal.dev_server import DevServer, start_dev_server
from extsched.clock import ManualClock
from extsched.config import Settings
from extsched.store.db import Database
from extsched.store.migrate import upgrade
from tests.support.postgres import PostgresServer
from tests.support.reliability import (  # noqa: F401 (the reliability report's hooks)
    observed,
    pytest_runtest_makereport,
    pytest_sessionfinish,
)
from tests.support.temporal import delete_all

JWT_SECRET = "test-secret-for-the-suite-only-0123456789"
TEMPLATE_DB = "extsched_template"
START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def _migrate(url: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    # Session fixtures may be first requested from inside a running event loop: use a thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    try:
        server.create_database()  # warms the server
        server.admin(f"CREATE DATABASE {TEMPLATE_DB}")
        _migrate(server.url(TEMPLATE_DB))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[DevServer]:
    server = start_dev_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def temporal_client(temporal_server: DevServer) -> AsyncIterator[Client]:
    client = await Client.connect(temporal_server.address)
    await delete_all(client)
    yield client
    await delete_all(client)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind, private to the test."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "extsched.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    name = pg_server.create_database(template=TEMPLATE_DB)
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, jwt_secret=JWT_SECRET)


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[FastAPI]:
    """The API over the in-memory backend, with no background loops."""
    application = create_app(
        settings, clock=clock, backend=MemoryJobRunner(clock), background=False
    )
    async with application.router.lifespan_context(application):
        yield application


@dataclass(frozen=True)
class Persona:
    name: str
    tenant: str | None
    headers: dict[str, str]


def persona(name: str, tenant: str | None, perms: list[str], user_type: str = "msp") -> Persona:
    token = mint_token(JWT_SECRET, sub=name, tenant=tenant, permissions=perms, user_type=user_type)
    return Persona(name, tenant, {"Authorization": f"Bearer {token}"})


@dataclass(frozen=True)
class Personas:
    admin_a: Persona
    reader_a: Persona
    admin_b: Persona
    client_a: Persona
    operator: Persona


@pytest.fixture
def personas() -> Personas:
    rw = [EXTENSION_READ, EXTENSION_WRITE]
    return Personas(
        admin_a=persona("alice", "tenant-a", rw),
        reader_a=persona("rita", "tenant-a", [EXTENSION_READ]),
        admin_b=persona("bob", "tenant-b", rw),
        client_a=persona("carl", "tenant-a", rw, user_type="client"),
        operator=persona("olga", None, [PLATFORM_ADMIN]),
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
