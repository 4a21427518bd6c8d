"""Fixtures for the API tests: the sample extension installed for tenant A."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from extsched.api.app import create_app
from extsched.backends.memory import MemoryJobRunner
from extsched.clock import ManualClock
from extsched.config import Settings
from tests.conftest import Personas
from tests.support.seed import installed_sample
from tests.support.served import Served, serve


@pytest.fixture
async def ext(client: httpx.AsyncClient, personas: Personas) -> dict[str, Any]:
    return await installed_sample(client, personas.operator, personas.admin_a)


@pytest.fixture
async def served(settings: Settings, clock: ManualClock) -> AsyncIterator[Served]:
    """The API over real HTTP (uvicorn on loopback), on the in-memory backend."""
    app = create_app(settings, clock=clock, backend=MemoryJobRunner(clock), background=False)
    async with serve(app) as running:
        yield running


@pytest.fixture
async def served_ext(served: Served, personas: Personas) -> dict[str, Any]:
    return await installed_sample(served.client, personas.operator, personas.admin_a)
