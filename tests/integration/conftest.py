"""Fixtures for the API tests: the sample extension installed for tenant A."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Personas
from tests.support.seed import installed_sample


@pytest.fixture
async def ext(client: httpx.AsyncClient, personas: Personas) -> dict[str, Any]:
    return await installed_sample(client, personas.operator, personas.admin_a)
